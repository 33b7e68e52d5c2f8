#!/usr/bin/env bash
# Trigger the Jenkins deploy job for SERVICE at REF, stream its console log
# until the build ends, and fail unless it ends SUCCESS. Outputs build=<number>
# and build_url=<url>.
# Usage: jenkins-deploy.sh JOB SERVICE REF
# Env: JENKINS_URL, JENKINS_USER, JENKINS_TOKEN (an API token: no CSRF crumb needed).
# Adapt: the job's parameter names (SERVICE, REF).
set -euo pipefail
job=$1 service=$2 ref=$3
: "${JENKINS_URL:?}" "${JENKINS_USER:?}" "${JENKINS_TOKEN:?}"
api() { curl -fsS --max-time 30 --user "$JENKINS_USER:$JENKINS_TOKEN" "$@"; }
header() { tr -d '\r' | awk -v h="$1" 'tolower($1) == tolower(h) ":" { print $2 }'; }

queue=$(api -X POST -D - -o /dev/null "$JENKINS_URL/job/$job/buildWithParameters" \
  --data-urlencode "SERVICE=$service" --data-urlencode "REF=$ref" | header location)
[[ -n $queue ]] || { echo "Jenkins did not queue $job" >&2; exit 1; }
echo "queued: $queue"

build_url=
until [[ -n $build_url ]]; do
  item=$(api "${queue%/}/api/json")
  if [[ $(jq -r '.cancelled // false' <<<"$item") == true ]]; then echo "queue item cancelled" >&2; exit 1; fi
  build_url=$(jq -r '.executable.url // empty' <<<"$item")
  [[ -n $build_url ]] || sleep 5
done
build=$(api "${build_url}api/json" | jq -r .number)
printf 'build=%s\nbuild_url=%s\n' "$build" "$build_url" >>"$RELCTL_OUTPUT"
echo "build #$build: $build_url"

# "Monitor Pipeline": follow the console log until Jenkins says there is no more.
start=0 headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
while :; do
  api -D "$headers" "${build_url}logText/progressiveText?start=$start"
  start=$(header X-Text-Size <"$headers")
  [[ $(header X-More-Data <"$headers") == true ]] || break
  sleep 3
done

# The log can end a moment before the build records its result.
result=null
for _ in $(seq 30); do
  result=$(api "${build_url}api/json" | jq -r '.result // "null"')
  [[ $result == null ]] || break
  sleep 2
done
echo "build #$build finished: $result"
[[ $result == SUCCESS ]]
