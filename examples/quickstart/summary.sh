#!/usr/bin/env bash
# Print what was released and where to look.
# Usage: summary.sh WORKDIR SERVICE VERSION PREVIOUS
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
cat <<TXT
released   $2 $3 (previous: ${4:-unknown})
run        ${RELCTL_RUN_ID:-manual} by ${RELCTL_ACTOR:-${USER:-$(id -un)}}
served     $workdir/site/health.json: $(cat "$workdir/site/health.json")
channel    $workdir/releases.log
app log    $workdir/server.log
TXT
