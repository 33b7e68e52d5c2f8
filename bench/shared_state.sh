#!/usr/bin/env bash
# Benchmark, not a test: what shared state in S3 costs per step.
#
# Times a runbook of STEPS trivial run steps (`/bin/true N`) with local
# state (the journal fsync'd on disk) and with `--state s3://…` against
# moto's server on loopback (the same, plus every step boundary's journal
# lines as a conditional PutObject, the lock and its renewals, the run
# index), REPEATS times interleaved after one warm-up; prints the medians
# and the per-step difference. moto is slower than S3's own request
# latency on a LAN but has no network: the difference is relctl's calls.
#
# Usage: bench/shared_state.sh        (starts moto itself, via scripts/moto.sh)
# Env:   RELCTL   relctl binary (default target/release/relctl, built when missing)
#        STEPS    number of steps (default 200)
#        REPEATS  timed runs of each (default 5)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
steps=${STEPS:-200}
repeats=${REPEATS:-5}
# shellcheck source=relctl_binary.sh
source "$root/bench/relctl_binary.sh"
# shellcheck source=../scripts/moto.sh
source "$root/scripts/moto.sh"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$RELCTL_TEST_MOTO_URL AWS_EC2_METADATA_DISABLED=true
curl -fsS -X PUT "$RELCTL_TEST_MOTO_URL/bench-state" >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; kill $moto_pid 2>/dev/null || true' EXIT
{
  echo "version: 1"
  echo "name: bench-shared-state"
  echo "execute:"
  for i in $(seq "$steps"); do echo "  - run: /bin/true $i"; done
} >"$tmp/steps.yaml"

python3 - "$relctl" "$tmp" "$steps" "$repeats" <<'PY'
import statistics, subprocess, sys, time

relctl, tmp, steps, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runs = 0

def timed(name, extra):
    global runs
    runs += 1
    argv = [relctl, "run", f"{tmp}/steps.yaml", "--non-interactive", "-q", "--state-dir", f"{tmp}/state-{runs}"] + extra
    env = {"RELCTL_LOCK_DIR": f"{tmp}/locks", **__import__("os").environ}
    start = time.perf_counter()
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp, env=env)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{name} exited {out.returncode}: {out.stderr}")
    return took

contenders = {
    "local": lambda: timed("local", []),
    "s3 (moto)": lambda: timed("s3", ["--state", "s3://bench-state/bench"]),
}
for run in contenders.values():
    run()
times = {name: [] for name in contenders}
for _ in range(repeats):
    for name, run in contenders.items():
        times[name].append(run())
median = {name: statistics.median(t) for name, t in times.items()}
print(f"{steps} run steps (/bin/true N), median of {repeats} runs")
for name, m in median.items():
    print(f"  {name:<10} {m:7.3f} s  {1000 * m / steps:6.2f} ms/step")
extra = (median["s3 (moto)"] - median["local"]) * 1000 / steps
print(f"  S3 backend adds {extra:.2f} ms per step ({median['s3 (moto)'] / median['local']:.2f}x local)")
PY
