#!/usr/bin/env bash
# Maintenance mode on or off: the app serves /maintenance.json while on.
# Idempotent. Usage: maintenance.sh WORKDIR on|off
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
flag=$workdir/site/maintenance.json
case ${2:-} in
  on)  mkdir -p "$workdir/site"
       printf '{"maintenance":true,"since":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$flag"
       echo "maintenance mode on" ;;
  off) rm -f "$flag"; echo "maintenance mode off" ;;
  *)   die "usage: maintenance.sh WORKDIR on|off" ;;
esac
