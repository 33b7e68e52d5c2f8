#!/usr/bin/env bash
# Performance metrics over the last WINDOW minutes are within thresholds:
# ECS CPU and memory, and (when LB is set) ALB 5xx count and p95 latency.
# Usage: check-metrics.sh CLUSTER SERVICE
# Env: WINDOW (min, default 5: the bake time, so after a rollback only the
#      restored version is measured), CPU_MAX (%, 80), MEM_MAX (%, 80),
#      LB (ALB dimension "app/NAME/ID"; empty = skip), ERRORS_5XX_MAX (per minute, 5),
#      P95_MAX (seconds, 0.5)
set -euo pipefail
cluster=$1 service=$2
window=${WINDOW:-5}
start=$(date -u -d "-$window min" +%Y-%m-%dT%H:%M:%SZ) end=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# Worst one-minute value of a metric in the window ("None" when no data).
worst() { # NAMESPACE METRIC STATISTIC DIMENSION...
  local ns=$1 metric=$2 statistic=$3 field=$3 flag=--statistics
  shift 3
  if [[ $statistic == p* ]]; then flag=--extended-statistics field="ExtendedStatistics.$statistic"; fi
  aws cloudwatch get-metric-statistics --namespace "$ns" --metric-name "$metric" \
    --start-time "$start" --end-time "$end" --period 60 "$flag" "$statistic" \
    --dimensions "$@" --query "max(Datapoints[].$field)" --output text
}

failed=0
check() { # LABEL VALUE MAX
  if [[ $2 == None ]]; then echo "$1: no data"; return; fi
  if awk -v v="$2" -v m="$3" 'BEGIN { exit !(v <= m) }'; then
    echo "ok   $1: $2 (max $3)"
  else
    echo "FAIL $1: $2 (max $3)"; failed=1
  fi
}

ecs=("Name=ClusterName,Value=$cluster" "Name=ServiceName,Value=$service")
check "CPU %" "$(worst AWS/ECS CPUUtilization Maximum "${ecs[@]}")" "${CPU_MAX:-80}"
check "memory %" "$(worst AWS/ECS MemoryUtilization Maximum "${ecs[@]}")" "${MEM_MAX:-80}"
if [[ -n ${LB:-} ]]; then
  check "5xx per minute" "$(worst AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum "Name=LoadBalancer,Value=$LB")" "${ERRORS_5XX_MAX:-5}"
  check "p95 latency s" "$(worst AWS/ApplicationELB TargetResponseTime p95 "Name=LoadBalancer,Value=$LB")" "${P95_MAX:-0.5}"
fi
exit "$failed"
