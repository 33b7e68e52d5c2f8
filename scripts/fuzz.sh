#!/usr/bin/env bash
# Coverage-guided fuzzing of load + validate + plan (fuzz/fuzz_targets/load.rs).
# Usage: scripts/fuzz.sh [SECONDS]   (default 600). Needs a nightly toolchain
# and cargo-fuzz (`cargo install cargo-fuzz`). The suite runs the stable
# property test in src/fuzz.rs instead; this is the long, deep run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
corpus=fuzz/corpus/load
mkdir -p "$corpus"
cp examples/*.yaml runbooks/*.yaml "$corpus"/
cargo +nightly fuzz run load --sanitizer none "$corpus" -- \
    -dict=fuzz/runbook.dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
