#!/usr/bin/env bash
# The ECS service is steady: one deployment, rollout completed, every
# desired task running. Holds for whichever version is live, so it also
# verifies a rollback.
# Usage: check-ecs.sh CLUSTER SERVICE
set -euo pipefail
cluster=$1 service=$2

aws ecs wait services-stable --cluster "$cluster" --services "$service"
svc=$(aws ecs describe-services --cluster "$cluster" --services "$service" --query 'services[0]' --output json)
jq -r '"\(.serviceName): \(.runningCount)/\(.desiredCount) tasks running, \(.deployments | length) deployment(s), rollout \(.deployments[] | select(.status == "PRIMARY") | .rolloutState), \(.taskDefinition)"' <<<"$svc"
jq -e '.runningCount == .desiredCount and (.deployments | length) == 1
       and .deployments[0].rolloutState == "COMPLETED"' <<<"$svc" >/dev/null
