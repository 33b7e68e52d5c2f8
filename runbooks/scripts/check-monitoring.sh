#!/usr/bin/env bash
# Monitoring ready: the service has CloudWatch alarms and none is firing.
# Usage: check-monitoring.sh SERVICE
# Adapt: alarms are found by name prefix "<SERVICE>-".
set -euo pipefail
service=$1

alarms=$(aws cloudwatch describe-alarms --alarm-name-prefix "$service-" \
  --query 'MetricAlarms[].[AlarmName,StateValue,ActionsEnabled]' --output text)
[[ -n $alarms ]] || { echo "no CloudWatch alarms named $service-*: monitoring is not set up" >&2; exit 1; }
echo "$alarms"
if awk '$2 == "ALARM" || $3 == "False" { bad = 1 } END { exit !bad }' <<<"$alarms"; then
  echo "an alarm is firing or has its actions disabled" >&2
  exit 1
fi
