#!/usr/bin/env bash
# SOP-DEV-002 6.2 "Backup production database" before the migration: a
# custom-format dump pg_restore can put back. Outputs file=<path>.
# Usage: db-backup.sh APP RUN_ID    Env: DATABASE_URL
# Adapt: where backups are kept (BACKUP_DIR, default ./backups).
set -euo pipefail
app=$1 run_id=$2
: "${DATABASE_URL:?set DATABASE_URL to the production database}"
dir=${BACKUP_DIR:-./backups}
mkdir -p "$dir"
file="$dir/$app-$run_id.dump"
pg_dump --format=custom --file="$file" "$DATABASE_URL"
[[ -s $file ]] || { echo "pg_dump wrote nothing to $file" >&2; exit 1; }
echo "backed up to $file ($(wc -c <"$file") bytes)"
echo "file=$file" >>"$RELCTL_OUTPUT"
