#!/usr/bin/env bash
# "Deploy" VERSION: rewrite the served health.json. Records the version it
# replaces and writes previous=<old version> to $RELCTL_OUTPUT, the
# rollback target. BREAK=yes deploys a degraded build.
# Idempotent: re-run in the same relctl run (resume), it reuses the version
# recorded the first time instead of recording the new one as "previous".
# Usage: deploy.sh WORKDIR VERSION [BREAK]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

workdir=$(abs_workdir "$1")
version=${2:-}
break=${3:-no}
check_version "$version"
[[ -f $workdir/site/health.json ]] || die "no app in $workdir/site: run the checklist first"

record=$workdir/runs/$(run_id).previous
if [[ -z ${RELCTL_RUN_ID:-} || ! -s $record ]]; then
  mkdir -p "$workdir/runs"
  live_version "$workdir" >"$record"
fi
previous=$(<"$record")
set_output previous "$previous"

status=healthy
if [[ $break == yes ]]; then status=degraded; fi
write_health "$workdir" "$status" "$version"
echo "deployed $version (status $status), replacing $previous"
