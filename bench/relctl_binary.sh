# Sourced by the bench scripts: sets `relctl` to the binary to time, RELCTL
# or target/release/relctl, building the latter when it is missing.
# Needs `root` (the repository) set by the caller.
relctl=${RELCTL:-$root/target/release/relctl}
if [[ ! -x $relctl ]]; then
  [[ -z ${RELCTL:-} ]] || { echo "RELCTL=$RELCTL is not an executable" >&2; exit 2; }
  echo "building $relctl ..." >&2
  (cd "$root" && cargo build --release --quiet)
fi
