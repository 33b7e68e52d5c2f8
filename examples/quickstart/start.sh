#!/usr/bin/env bash
# Start the demo app: python3's http.server on 127.0.0.1:PORT serving
# WORKDIR/site. Safe to re-run: a server we started before (recorded in
# server.pid) is stopped first. Seeds version 1.0.0 on the first start.
# Usage: start.sh WORKDIR PORT
set -euo pipefail
here=$(dirname "$0")
source "$here/lib.sh"

workdir=$(abs_workdir "$1")
port=${2:?missing port}
site=$workdir/site
pidfile=$workdir/server.pid
log=$workdir/server.log

[[ -f $site/health.json ]] || write_health "$workdir" healthy 1.0.0
"$here/stop.sh" "$workdir"

# Another process on the port would answer our polls and fool us: refuse.
if ! python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    sys.exit(f"port {sys.argv[1]} is busy ({e.strerror}); choose another with --var port=N")
PY
then
  exit 1
fi

# Detach completely: own session (so relctl's cleanup of the step's process
# group leaves it alone), stdin from /dev/null and every output to the log
# (so relctl does not wait on our pipes). The inner shell records its pid,
# then becomes the server.
# shellcheck disable=SC2016 # expanded by the inner shell
serve='echo $$ >"$1"; exec python3 -m http.server "$2" --bind 127.0.0.1 --directory "$3"'
rm -f "$pidfile"
if command -v setsid >/dev/null; then
  setsid bash -c "$serve" serve "$pidfile" "$port" "$site" </dev/null >>"$log" 2>&1 &
else
  nohup bash -c "$serve" serve "$pidfile" "$port" "$site" </dev/null >>"$log" 2>&1 &
fi

# Poll until it answers (up to ~10s), failing early if it died.
for _ in $(seq 100); do
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ -n $pid ]]; then
    kill -0 "$pid" 2>/dev/null || { tail -n 5 "$log" >&2; die "the app exited; log: $log"; }
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
         "http://127.0.0.1:$port/health.json" 2>/dev/null; then
      echo "app running: pid $pid, http://127.0.0.1:$port/health.json, live version $(live_version "$workdir")"
      echo "log: $log"
      exit 0
    fi
  fi
  sleep 0.1
done
die "the app did not answer on port $port within 10s; log: $log"
