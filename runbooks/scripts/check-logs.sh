#!/usr/bin/env bash
# No critical errors in the application logs over the last MINUTES.
# Usage: check-logs.sh SERVICE [LOG_GROUP]   (default /ecs/SERVICE)
# Env: MINUTES (default 5, the bake time), MAX_ERRORS (default 0).
set -euo pipefail
service=$1 log_group=${2:-}
log_group=${log_group:-/ecs/$service}
minutes=${MINUTES:-5} max_errors=${MAX_ERRORS:-0}

since=$(( ($(date +%s) - minutes * 60) * 1000 ))
count=$(aws logs filter-log-events --log-group-name "$log_group" --start-time "$since" \
  --filter-pattern '?CRITICAL ?FATAL ?ERROR' --query 'length(events)' --output text)
echo "$count error lines in $log_group over the last $minutes minutes (allowed: $max_errors)"
(( count <= max_errors ))
