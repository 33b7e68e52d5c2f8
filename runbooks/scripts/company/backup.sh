#!/usr/bin/env bash
# Procedure 5.1.4: back up the database (pg_dump, custom format) and the
# configuration files before anything changes. Outputs db=<file>, config=<file>.
# Usage: backup.sh APP CONFIG_DIR RUN_ID    Env: DATABASE_URL
# Adapt: BACKUP_DIR (default ./backups); "test and validate restore in
# staging" stays a separate, scheduled job.
set -euo pipefail
app=$1 config_dir=$2 run_id=$3
: "${DATABASE_URL:?set DATABASE_URL}"
dir=${BACKUP_DIR:-./backups}
mkdir -p "$dir"
db="$dir/$app-db-$run_id.dump" config="$dir/$app-config-$run_id.tar.gz"
pg_dump --format=custom --file="$db" "$DATABASE_URL"
[[ -s $db ]] || { echo "pg_dump wrote nothing to $db" >&2; exit 1; }
tar -czf "$config" -C "$config_dir" .
echo "database: $db; configuration: $config"
printf 'db=%s\nconfig=%s\n' "$db" "$config" >>"$RELCTL_OUTPUT"
