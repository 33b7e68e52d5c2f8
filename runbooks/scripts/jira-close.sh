#!/usr/bin/env bash
# Comment on the release ticket and move it to Done.
# Usage: jira-close.sh TICKET COMMENT...   (empty TICKET = nothing to do)
# Env: JIRA_URL, JIRA_USER, JIRA_TOKEN; JIRA_DONE_TRANSITION (transition id, default 31).
set -euo pipefail
ticket=$1
shift
[[ -n $ticket ]] || { echo "no Jira ticket given: skipped"; exit 0; }
: "${JIRA_URL:?}" "${JIRA_USER:?}" "${JIRA_TOKEN:?}"
api() { curl -fsS --max-time 30 --user "$JIRA_USER:$JIRA_TOKEN" -H 'Content-Type: application/json' "$@"; }

api -X POST "$JIRA_URL/rest/api/2/issue/$ticket/comment" -d "$(jq -n --arg body "$*" '{body: $body}')" >/dev/null
api -X POST "$JIRA_URL/rest/api/2/issue/$ticket/transitions" \
  -d "$(jq -n --arg id "${JIRA_DONE_TRANSITION:-31}" '{transition: {id: $id}}')"
echo "$ticket commented and closed"
