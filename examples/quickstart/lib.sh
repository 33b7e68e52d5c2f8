# shellcheck shell=bash
# Helpers shared by the quickstart scripts. Sourced, never run.
#
# Layout under the workdir:
#   site/health.json        what the app serves: {"status":"…","version":"…"}
#   site/maintenance.json   present while maintenance mode is on
#   server.pid, server.log  the app process
#   releases.log            the simulated #releases channel
#   runs/RUN_ID.*           per-run notes that make re-runs (resume) safe

die() { echo "error: $*" >&2; exit 1; }

# Absolute path of the workdir, created if missing.
abs_workdir() {
  [[ -n ${1:-} ]] || die "missing workdir argument"
  mkdir -p "$1" && (cd "$1" && pwd)
}

check_version() {
  [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "not a version: '$1'"
}

run_id() { echo "${RELCTL_RUN_ID:-manual}"; }

live_version() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$1/site/health.json"
}

# Replace health.json atomically, so the server never serves half a file.
write_health() { # workdir status version
  local site=$1/site
  mkdir -p "$site"
  printf '{"status":"%s","version":"%s"}\n' "$2" "$3" >"$site/health.json.tmp"
  mv -f "$site/health.json.tmp" "$site/health.json"
}

# Step output for relctl (KEY=VALUE lines in $RELCTL_OUTPUT); echoed too.
set_output() {
  if [[ -n ${RELCTL_OUTPUT:-} ]]; then printf '%s=%s\n' "$1" "$2" >>"$RELCTL_OUTPUT"; fi
  echo "output: $1=$2"
}
