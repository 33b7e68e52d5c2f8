#!/usr/bin/env bash
# Maintenance mode on or off. Idempotent.
# Usage: maintenance.sh SERVICE on|off
# Adapt: we assume the app reads the SSM parameter /<SERVICE>/maintenance.
set -euo pipefail
service=$1 mode=$2
[[ $mode == on || $mode == off ]] || { echo "usage: maintenance.sh SERVICE on|off" >&2; exit 2; }

aws ssm put-parameter --name "/$service/maintenance" --type String --value "$mode" --overwrite >/dev/null
echo "maintenance mode $mode for $service"
