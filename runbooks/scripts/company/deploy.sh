#!/usr/bin/env bash
# Procedure 5.2: install the release's artifact from Artifactory beside the
# others (DEPLOY_DIR/releases/VERSION), check it against Artifactory's
# sha256, switch DEPLOY_DIR/current to it (atomically, with a symlink), and
# restart. Outputs previous=<release current pointed at before>.
# Usage: deploy.sh APP VERSION ARTIFACTORY_URL REPO DEPLOY_DIR
# Env: ARTIFACTORY_TOKEN (optional), RESTART_COMMAND (default: systemctl restart APP)
# Adapt: the artifact's path in the repository (APP/VERSION/APP-VERSION.tar.gz).
set -euo pipefail
app=$1 version=$2 base=$3 repo=$4 dir=$5
path="$app/$version/$app-$version.tar.gz"
auth=()
[[ -n ${ARTIFACTORY_TOKEN:-} ]] && auth=(-H "Authorization: Bearer $ARTIFACTORY_TOKEN")
want=$(curl -fsS --max-time 30 "${auth[@]}" "$base/api/storage/$repo/$path" | jq -r .checksums.sha256)
mkdir -p "$dir/releases/$version"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
curl -fsS --max-time 300 "${auth[@]}" -o "$tmp" "$base/$repo/$path"
got=$(sha256sum "$tmp" | cut -d' ' -f1)
[[ $got == "$want" ]] || { echo "$path: sha256 $got, Artifactory says $want" >&2; exit 1; }
tar -xzf "$tmp" -C "$dir/releases/$version"
previous=$(readlink "$dir/current" || true)
printf 'previous=%s\n' "${previous##*/}" >>"$RELCTL_OUTPUT"
ln -sfn "releases/$version" "$dir/current.new" && mv -T "$dir/current.new" "$dir/current"
echo "current -> releases/$version (was ${previous:-nothing})"
${RESTART_COMMAND:-systemctl restart "$app"}
