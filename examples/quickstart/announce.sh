#!/usr/bin/env bash
# Stand-in for posting to the #releases channel: prints the message and
# appends it to WORKDIR/releases.log.
# Usage: announce.sh WORKDIR MESSAGE...
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
shift
line="$(date -u +%Y-%m-%dT%H:%M:%SZ) #releases ${RELCTL_ACTOR:-${USER:-$(id -un)}}: $*"
echo "$line" | tee -a "$workdir/releases.log"
