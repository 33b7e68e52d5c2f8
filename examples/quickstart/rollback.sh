#!/usr/bin/env bash
# Redeploy the previous version (healthy) and note, for this run, which
# version should now be live (expected-version.sh reads it). Falls back to
# the version deploy.sh recorded when no version is given.
# Usage: rollback.sh WORKDIR [VERSION]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
target=${2:-}
record=$workdir/runs/$(run_id).previous
if [[ -z $target && -s $record ]]; then target=$(<"$record"); fi
[[ -n $target ]] || die "no previous version known: nothing to roll back to"
check_version "$target"

write_health "$workdir" healthy "$target"
mkdir -p "$workdir/runs"
echo "$target" >"$workdir/runs/$(run_id).rolled-back"
echo "rolled back to $target"
