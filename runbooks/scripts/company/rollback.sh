#!/usr/bin/env bash
# Procedure 5.3.2 "Revert to previous artifact": point DEPLOY_DIR/current
# back at the release deploy.sh replaced (still installed beside it) and
# restart. Idempotent. Usage: rollback.sh APP PREVIOUS DEPLOY_DIR
# Env: RESTART_COMMAND (default: systemctl restart APP)
set -euo pipefail
app=$1 previous=$2 dir=$3
[[ -n $previous && -d $dir/releases/$previous ]] || { echo "no previous release to go back to (${previous:-none recorded})" >&2; exit 1; }
ln -sfn "releases/$previous" "$dir/current.new" && mv -T "$dir/current.new" "$dir/current"
echo "current -> releases/$previous"
${RESTART_COMMAND:-systemctl restart "$app"}
