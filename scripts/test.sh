#!/usr/bin/env bash
# The whole test suite, as README.md gives it and CI runs it.
# Sets up whatever the tests need, then runs every test and the lints.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required (the quickstart test serves its app with it)" >&2; exit 1; }

cargo fmt --check
# moto's server for the S3, CloudWatch and ECS tests: installed (pinned) and started here.
source scripts/moto.sh
# A real Prometheus server for the `prometheus` check's tests (Debian's package, unpacked here).
source scripts/prometheus.sh
cargo test --locked --all-targets
cargo clippy --locked --all-targets -- -D warnings
