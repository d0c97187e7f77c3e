#!/usr/bin/env bash
# Installs the doorbell agent on Raspberry Pi OS / Debian as a hardened systemd service.
# Run it from a checkout where `npm ci && npm run build` has made dist/:
#     sudo scripts/install.sh              install or upgrade (safe to run again)
#     scripts/install.sh --dry-run         print every step, change nothing
#     scripts/install.sh --prefix DIR      install into DIR (a throwaway root for tests); system
#                                          commands (apt-get, useradd, systemctl, chown) are printed
# Your /etc/doorbell/agent.yaml is never overwritten.
set -euo pipefail

readonly NODE_MIN_MAJOR=20
readonly NODE_MIN_MINOR=19
readonly APT_PACKAGES=(ffmpeg gpiod)

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "$0"
  echo "Options: --dry-run, --prefix DIR, --skip-npm (do not run npm ci: node_modules comes with the image), -h/--help"
}

# shellcheck source-path=SCRIPTDIR source=lib/steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/steps.sh"

DRY_RUN=0
PREFIX=""
SKIP_NPM=0
while (($#)); do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a folder"; PREFIX=$2; shift ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    --skip-npm) SKIP_NPM=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
PREFIX=$(absolute_prefix "$PREFIX")

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly SRC
readonly APP_DIR=/opt/doorbell CONF_DIR=/etc/doorbell STATE_DIR=/var/lib/doorbell
readonly UNIT_DIR=/usr/lib/systemd/system SYSUSERS_DIR=/usr/lib/sysusers.d TMPFILES_DIR=/usr/lib/tmpfiles.d
readonly BIN=/usr/local/bin/doorbell
readonly CONFIG="$CONF_DIR/agent.yaml"
# Root-only; systemd hands it to the agent as the credential `setup-code` (LoadCredential= in the unit).
readonly SETUP_CODE="$CONF_DIR/setup-code"

# Writes stdin to a file (under the prefix), or prints what it would write.
write_file() {
  local target=$1 mode=$2 content
  content=$(cat)
  if ((DRY_RUN)); then
    printf '+ write %s (mode %s):\n%s\n' "$target" "$mode" "$content"
  else
    printf '%s\n' "$content" >"$target"
    chmod "$mode" "$target"
  fi
}

check_source() {
  [[ -f $SRC/dist/agent/cli.js ]] || die "$SRC/dist is missing: build first with \`npm ci && npm run build\`"
  local f
  for f in package.json package-lock.json systemd/doorbell.service systemd/doorbell.sysusers.conf \
    systemd/doorbell.tmpfiles.conf scripts/agent.example.yaml; do
    [[ -f $SRC/$f ]] || die "$SRC/$f is missing: run this script from a complete checkout"
  done
}

check_root() {
  if [[ -z $PREFIX ]] && ((!DRY_RUN)) && ((EUID != 0)); then
    die "run it as root: sudo $0"
  fi
}

NODE_BIN=""
check_node() {
  NODE_BIN=$(command -v node || true)
  [[ -n $NODE_BIN ]] || die "Node.js ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or newer is needed and none was found.
  Raspberry Pi OS's own nodejs package is too old: install Node 20 or 22 from NodeSource
  (https://github.com/nodesource/distributions) or the official tarball in /usr/local."
  NODE_BIN=$(readlink -f "$NODE_BIN")
  local version major minor
  version=$("$NODE_BIN" -p 'process.versions.node')
  IFS=. read -r major minor _ <<<"$version"
  if ((major < NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor < NODE_MIN_MINOR))); then
    die "Node.js $version at $NODE_BIN is too old: ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or newer is needed
  (install Node 20 or 22 from NodeSource: https://github.com/nodesource/distributions)."
  fi
  case "$NODE_BIN" in
    /home/* | /root/*) die "Node.js at $NODE_BIN is inside a home folder, which the hardened service cannot see
  (ProtectHome=yes; nvm installs there): install Node system-wide (NodeSource, or the tarball in /usr/local)." ;;
  esac
  command -v npm >/dev/null || ((SKIP_NPM)) || die "npm is missing (it comes with Node.js)"
  echo "Node.js $version at $NODE_BIN"
}

# Installed per dpkg, or (where there is no dpkg) the program it provides is on PATH.
have_package() {
  if command -v dpkg-query >/dev/null; then
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
  else
    command -v "$2" >/dev/null
  fi
}

install_packages() {
  local missing=()
  have_package ffmpeg ffmpeg || missing+=(ffmpeg)
  have_package gpiod gpiodetect || missing+=(gpiod)
  if ((${#missing[@]} == 0)); then
    echo "already installed: ${APT_PACKAGES[*]}"
    return
  fi
  system apt-get update
  system apt-get install -y --no-install-recommends "${missing[@]}"
}

create_user() {
  run install -d -m 0755 "$PREFIX$SYSUSERS_DIR"
  run install -m 0644 "$SRC/systemd/doorbell.sysusers.conf" "$PREFIX$SYSUSERS_DIR/doorbell.conf"
  if command -v systemd-sysusers >/dev/null; then
    system systemd-sysusers "$SYSUSERS_DIR/doorbell.conf"
    return
  fi
  # Without systemd-sysusers: the same user and groups by hand, each only if missing.
  local g
  for g in gpio video; do
    getent group "$g" >/dev/null || system groupadd --system "$g"
  done
  if ! getent passwd doorbell >/dev/null; then
    system useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "Doorbell agent" doorbell
  fi
  system usermod --append --groups gpio,video doorbell
}

install_app() {
  local app="$PREFIX$APP_DIR"
  run install -d -m 0755 "$app"
  # Replaced whole, so files of an older version never linger; root-owned, so the agent cannot change its own code.
  run rm -rf "$app/dist" "$app/systemd"
  run cp -R "$SRC/dist" "$SRC/systemd" "$app/"
  run install -m 0644 "$SRC/package.json" "$SRC/package-lock.json" "$app/"
  if [[ -f $SRC/README.md ]]; then run install -m 0644 "$SRC/README.md" "$app/"; fi
  run chmod -R u=rwX,go=rX "$app/dist" "$app/systemd"
  # The installed copy only runs: without its build hook, npm ci cannot try to compile TypeScript.
  run npm pkg delete scripts.prepare --prefix "$app"
  if ((SKIP_NPM)); then
    echo "skipping npm ci (--skip-npm)"
  else
    # Production dependencies only; better-sqlite3's native part is fetched or built for this Pi.
    run npm ci --omit=dev --no-audit --no-fund --prefix "$app"
  fi
  run install -d -m 0755 "$(dirname "$PREFIX$BIN")"
  write_file "$PREFIX$BIN" 0755 <<EOF
#!/bin/sh
# The doorbell command, with the installed configuration unless --config or \$DOORBELL_CONFIG says otherwise.
DOORBELL_CONFIG="\${DOORBELL_CONFIG:-$CONFIG}" exec $NODE_BIN $APP_DIR/dist/agent/cli.js "\$@"
EOF
}

install_config() {
  run install -d -m 0750 "$PREFIX$CONF_DIR"
  system chown root:doorbell "$CONF_DIR"
  if [[ -e $PREFIX$CONFIG ]]; then
    echo "keeping your $PREFIX$CONFIG"
  else
    # May hold the broker password: root writes it, the agent's group reads it, nobody else.
    run install -m 0640 "$SRC/scripts/agent.example.yaml" "$PREFIX$CONFIG"
    system chown root:doorbell "$CONFIG"
    echo "new $PREFIX$CONFIG from the template: set device.id, camera, mqtt.url and the GPIO pins there"
  fi
}

# A headless doorbell has no console to show a pairing code: the first phone pairs with this 16-digit
# setup code instead, printed here once. The agent accepts it only while no owner key was ever enrolled.
install_setup_code() {
  local target="$PREFIX$SETUP_CODE"
  if [[ -e $target ]]; then
    echo "keeping the setup code in $target (it was shown at the first install; it works until the first phone pairs)"
    return
  fi
  if ((DRY_RUN)); then
    echo "+ write $target (mode 0600, root only): a new 16-digit setup code, printed once"
    system chown root:root "$SETUP_CODE"
    return
  fi
  local code
  # Uniform digits: bytes of 250 and above are drawn again, so no digit is likelier than another.
  code=$("$NODE_BIN" -e 'const { randomBytes } = require("node:crypto"); let s = "";
    while (s.length < 16) for (const b of randomBytes(16)) if (b < 250 && s.length < 16) s += b % 10;
    process.stdout.write(s);')
  [[ $code =~ ^[0-9]{16}$ ]] || die "could not make a setup code"
  (umask 077 && printf '%s\n' "$code" >"$target")
  chmod 0600 "$target"
  system chown root:root "$SETUP_CODE"
  echo
  echo "  Setup code: ${code:0:4} ${code:4:4} ${code:8:4} ${code:12:4}"
  echo "  Shown only now: write it down. Type it in the phone app to pair the first phone."
  echo "  It stops working once a phone is paired (then: sudo doorbell pair, or hold the button 5 s)."
  echo "  Kept root-only in $SETUP_CODE."
  echo
}

install_units() {
  run install -d -m 0755 "$PREFIX$UNIT_DIR" "$PREFIX$TMPFILES_DIR"
  run install -m 0644 "$SRC/systemd/doorbell.service" "$PREFIX$UNIT_DIR/doorbell.service"
  run install -m 0644 "$SRC/systemd/doorbell.tmpfiles.conf" "$PREFIX$TMPFILES_DIR/doorbell.conf"
  # The unit runs /usr/bin/node; a Node elsewhere (e.g. /usr/local/bin) gets a drop-in that says so,
  # with the unit's own command line (node's flags included).
  local dropin="$PREFIX$UNIT_DIR/doorbell.service.d" exec_start
  if [[ $NODE_BIN == /usr/bin/node ]]; then
    if [[ -e $dropin/10-node.conf ]]; then run rm -f "$dropin/10-node.conf"; fi
  else
    exec_start=$(sed -n "s|^ExecStart=/usr/bin/node |ExecStart=$NODE_BIN |p" "$SRC/systemd/doorbell.service")
    [[ -n $exec_start ]] || die "systemd/doorbell.service has no ExecStart=/usr/bin/node line to point at $NODE_BIN"
    run install -d -m 0755 "$dropin"
    write_file "$dropin/10-node.conf" 0644 <<EOF
# Written by scripts/install.sh: Node.js is at $NODE_BIN here.
[Service]
ExecStart=
$exec_start
EOF
  fi
  system systemd-tmpfiles --create "$TMPFILES_DIR/doorbell.conf"
  system systemctl daemon-reload
  system systemctl enable doorbell.service
  # restart, not start: an upgrade must replace the running code.
  system systemctl restart doorbell.service
}

run_doctor() {
  # As the agent's user: its group memberships and file permissions are the ones that count.
  if ((DRY_RUN)) || [[ -n $PREFIX ]]; then
    system runuser -u doorbell -- "$BIN" doctor
    return
  fi
  if runuser -u doorbell -- "$BIN" doctor; then
    echo "Installed. Logs: journalctl -u doorbell -f"
  else
    echo
    echo "Installed, but doctor found problems (above). Fix them, then check again with:"
    echo "    sudo -u doorbell doorbell doctor"
  fi
}

main() {
  check_root
  check_source
  step "Node.js"
  check_node
  step "packages: ${APT_PACKAGES[*]}"
  install_packages
  step "user doorbell (groups gpio, video)"
  create_user
  step "app in $PREFIX$APP_DIR"
  install_app
  step "configuration $PREFIX$CONFIG"
  install_config
  step "setup code for the first phone"
  install_setup_code
  step "systemd service"
  install_units
  step "doorbell doctor"
  run_doctor
}

main "$@"
