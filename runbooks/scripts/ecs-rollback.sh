#!/usr/bin/env bash
# Point the ECS service back at TASK_DEFINITION and wait until it is steady.
# Idempotent: re-running it with the same target is harmless.
# Usage: ecs-rollback.sh CLUSTER SERVICE TASK_DEFINITION
set -euo pipefail
cluster=$1 service=$2 task_definition=$3
[[ $task_definition == arn:* ]] || { echo "no stable task definition recorded ('$task_definition')" >&2; exit 1; }

aws ecs update-service --cluster "$cluster" --service "$service" \
  --task-definition "$task_definition" --force-new-deployment --query 'service.serviceName' --output text
aws ecs wait services-stable --cluster "$cluster" --services "$service"
echo "$service is back on $task_definition"
