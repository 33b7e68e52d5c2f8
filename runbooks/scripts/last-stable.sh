#!/usr/bin/env bash
# Record what is live now, the last known stable version, as the rollback
# target. Outputs task_definition=<ARN> and build=<frontend build> ("none"
# for a part the service does not have).
# Usage: last-stable.sh CLUSTER SERVICE APP_URL BACKEND(yes|no) FRONTEND(yes|no)
# Adapt: the frontend build is read from APP_URL/version.json {"build": "..."}.
set -euo pipefail
cluster=$1 service=$2 app_url=$3 backend=$4 frontend=$5

task_definition=none build=none
if [[ $backend == yes ]]; then
  task_definition=$(aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query 'services[0].taskDefinition' --output text)
  [[ $task_definition == arn:* ]] || { echo "no ECS service $service in $cluster" >&2; exit 1; }
fi
if [[ $frontend == yes ]]; then
  build=$(curl -fsS --max-time 10 "$app_url/version.json" | jq -er .build)
fi

echo "last known stable: task definition $task_definition, assets build $build"
printf 'task_definition=%s\nbuild=%s\n' "$task_definition" "$build" >>"$RELCTL_OUTPUT"
