#!/usr/bin/env bash
# Stop the demo app started by start.sh, by its recorded pid. Does nothing
# when it is not running. Never kills a process that is not our server.
# Usage: stop.sh [WORKDIR]   (default .quickstart, relative to examples/)
set -euo pipefail

workdir=${1:-$(dirname "$0")/../.quickstart}
pidfile=$workdir/server.pid

# Running, and not a zombie waiting for a parent that never reaps it.
alive() {
  local state=
  { read -r _ _ state _ </proc/"$1"/stat; } 2>/dev/null || return 1
  [[ $state != Z ]]
}

[[ -f $pidfile ]] || { echo "app not running (no $pidfile)"; exit 0; }
pid=$(<"$pidfile")
if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" \
   && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'http\.server'; then
  kill "$pid"
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -KILL "$pid"; fi
  echo "app stopped (pid $pid)"
else
  echo "app not running (stale pid file)"
fi
rm -f "$pidfile"
