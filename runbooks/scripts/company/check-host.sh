#!/usr/bin/env bash
# Procedure 5.1.1 / 5.1.3: the host is fit to deploy to: CPU under MAX_CPU %
# (load average over cores), memory under MAX_MEM % used, and at least
# MIN_DISK_MB free where releases are installed.
# Usage: check-host.sh DEPLOY_DIR [MAX_CPU=80] [MAX_MEM=70] [MIN_DISK_MB=1024]
# Adapt: run it on the target host (ssh HOST 'bash -s' < check-host.sh …).
set -euo pipefail
dir=$1 max_cpu=${2:-80} max_mem=${3:-70} min_disk=${4:-1024}
cores=$(getconf _NPROCESSORS_ONLN)
cpu=$(awk -v c="$cores" '{ printf "%d", $1 / c * 100 }' /proc/loadavg)
mem=$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { printf "%d", (t - a) / t * 100 }' /proc/meminfo)
disk=$(df -Pm "$dir" | awk 'NR == 2 { print $4 }')
echo "cpu ${cpu}% (max $max_cpu), memory ${mem}% (max $max_mem), disk ${disk} MB free in $dir (min $min_disk)"
printf 'cpu=%s\nmemory=%s\ndisk_mb=%s\n' "$cpu" "$mem" "$disk" >>"$RELCTL_OUTPUT"
fail=0
(( cpu < max_cpu )) || { echo "CPU at ${cpu}% is not under ${max_cpu}%" >&2; fail=1; }
(( mem < max_mem )) || { echo "memory at ${mem}% is not under ${max_mem}%" >&2; fail=1; }
(( disk >= min_disk )) || { echo "only ${disk} MB free in $dir" >&2; fail=1; }
exit $fail
