#!/usr/bin/env bash
# Removes the doorbell agent installed by scripts/install.sh.
#     sudo scripts/uninstall.sh            stop the service, remove the app and the unit; keep the
#                                          clips and database (/var/lib/doorbell) and the config
#                                          (/etc/doorbell)
#     sudo scripts/uninstall.sh --purge    remove those too
#     scripts/uninstall.sh --dry-run       print every step, change nothing
#     scripts/uninstall.sh --prefix DIR    uninstall from DIR (a throwaway root for tests)
# The doorbell system user stays (as Debian does), so files it owns elsewhere keep a name.
set -euo pipefail

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

# shellcheck source-path=SCRIPTDIR source=lib/steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/steps.sh"

DRY_RUN=0
PREFIX=""
PURGE=0
while (($#)); do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --purge) PURGE=1 ;;
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a folder"; PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
PREFIX=$(absolute_prefix "$PREFIX")
if [[ -z $PREFIX ]] && ((!DRY_RUN)) && ((EUID != 0)); then
  die "run it as root: sudo $0"
fi

readonly UNIT_DIR=/usr/lib/systemd/system

# `systemctl disable --now` fails for a unit that is already gone: then there is nothing to stop.
if [[ -e $PREFIX$UNIT_DIR/doorbell.service ]]; then
  system systemctl disable --now doorbell.service
fi
run rm -rf "$PREFIX/opt/doorbell"
run rm -f "$PREFIX/usr/local/bin/doorbell" \
  "$PREFIX$UNIT_DIR/doorbell.service" \
  "$PREFIX/usr/lib/sysusers.d/doorbell.conf" \
  "$PREFIX/usr/lib/tmpfiles.d/doorbell.conf"
run rm -rf "$PREFIX$UNIT_DIR/doorbell.service.d"
system systemctl daemon-reload

if ((PURGE)); then
  run rm -rf "$PREFIX/var/lib/doorbell" "$PREFIX/etc/doorbell"
  echo "removed the doorbell agent, its clips, database and configuration"
else
  echo "removed the doorbell agent; kept its clips and database ($PREFIX/var/lib/doorbell) and configuration ($PREFIX/etc/doorbell)"
  echo "(scripts/uninstall.sh --purge removes them too)"
fi
