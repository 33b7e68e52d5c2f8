#!/usr/bin/env bash
# Which version should be live: the release VERSION, or the rollback target
# once rollback.sh ran in this run. Writes version=<it> to $RELCTL_OUTPUT.
# Usage: expected-version.sh WORKDIR VERSION
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
expected=${2:?missing version}
marker=$workdir/runs/$(run_id).rolled-back
if [[ -s $marker ]]; then expected=$(<"$marker"); fi
set_output version "$expected"
