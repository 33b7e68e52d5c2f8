#!/usr/bin/env bash
# Procedure 3.3 / 3.5 / 5.1.2: tag the release in Git (vVERSION, annotated)
# and push the tag. Idempotent: a tag already there on this commit is
# pushed again; one on another commit is an error (a version is released once).
# Usage: git-tag.sh VERSION REMOTE [REF=HEAD]
set -euo pipefail
version=$1 remote=$2 ref=${3:-HEAD}
tag="v$version"
commit=$(git rev-parse --verify "$ref^{commit}")
if existing=$(git rev-parse --verify --quiet "refs/tags/$tag^{commit}"); then
  [[ $existing == "$commit" ]] || { echo "$tag already tags $existing, not $commit" >&2; exit 1; }
else
  git tag -a "$tag" -m "Release $version" "$commit"
fi
git push "$remote" "refs/tags/$tag"
echo "tagged $commit as $tag and pushed it to $remote"
printf 'tag=%s\ncommit=%s\n' "$tag" "$commit" >>"$RELCTL_OUTPUT"
