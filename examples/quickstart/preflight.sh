#!/usr/bin/env bash
# Checklist: are the tools here, and is the requested port usable?
# Usage: preflight.sh WORKDIR PORT
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
port=${2:?missing port}

(( BASH_VERSINFO[0] >= 4 )) || die "bash 4 or newer is needed (have $BASH_VERSION)"
command -v python3 >/dev/null || die "python3 is not on PATH"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 7))' \
  || die "python3 3.7 or newer is needed (http.server --directory)"
if ! [[ $port =~ ^[0-9]+$ ]] || (( port < 1024 || port > 65535 )); then
  die "port must be a number from 1024 to 65535, got '$port'"
fi
[[ -w $workdir ]] || die "$workdir is not writable"

echo "bash $BASH_VERSION, $(python3 --version), port $port, workdir $workdir"
