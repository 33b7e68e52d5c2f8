#!/usr/bin/env bash
# Every asset the live index.html references is present in the S3 bucket.
# Reads the page instead of assuming a version, so it also verifies a rollback.
# Usage: check-assets.sh APP_URL BUCKET
# Adapt: assets are referenced as src="/…" or href="/…" and stored under the same key.
set -euo pipefail
app_url=$1 bucket=$2
[[ -n $bucket ]] || { echo "set --var assets_bucket=NAME" >&2; exit 2; }

mapfile -t keys < <(curl -fsS --max-time 10 "$app_url/" \
  | grep -oE '(src|href)="/[^"]+\.(js|css|png|svg|woff2?)"' | sed -E 's/^[a-z]+="\///; s/"$//' | sort -u)
(( ${#keys[@]} > 0 )) || { echo "no assets referenced by $app_url/" >&2; exit 1; }

missing=0
for key in "${keys[@]}"; do
  if ! aws s3api head-object --bucket "$bucket" --key "$key" >/dev/null 2>&1; then
    echo "missing: s3://$bucket/$key" >&2
    missing=$((missing + 1))
  fi
done
echo "${#keys[@]} assets referenced, $missing missing"
(( missing == 0 ))
