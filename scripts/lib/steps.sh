# shellcheck shell=bash
# Shared by install.sh and uninstall.sh (sourced, not run): how every step is done or shown.
# The caller sets DRY_RUN (0/1) and PREFIX ("" or a folder) before using run and system.

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# A relative --prefix becomes absolute, without a trailing slash.
absolute_prefix() {
  local prefix=$1
  [[ -z $prefix ]] && return 0
  [[ $prefix == /* ]] || prefix="$PWD/$prefix"
  printf '%s' "${prefix%/}"
}

# `run` changes files (under the prefix, if any); `system` changes the machine itself, so with
# --prefix it is only printed.
run() {
  if ((DRY_RUN)); then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

system() {
  if ((DRY_RUN)) || [[ -n $PREFIX ]]; then
    printf '+ %s%s\n' "$*" "$([[ -n $PREFIX && $DRY_RUN -eq 0 ]] && echo '   # not run with --prefix')"
  else
    "$@"
  fi
}

step() {
  printf '\n==> %s\n' "$*"
}
