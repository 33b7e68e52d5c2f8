#!/usr/bin/env bash
# Benchmark, not a test: what relctl costs per `run` step.
#
# Times a runbook of STEPS trivial run steps (`/bin/true N`) under
# `relctl run` (journal on: every event fsync'd as in a real release)
# against two plain bash scripts running the same commands:
#   direct  - each line runs `/bin/true N` itself (the honest floor: one
#             fork+exec per step, no journal);
#   bash -c - each line spawns `bash -eo pipefail -c '/bin/true N'`, which is
#             what relctl did for every step before it ran simple commands
#             directly.
# All run REPEATS times, interleaved, after one untimed warm-up; prints the
# median wall times and the ratios. Goal: relctl <= 1.3x the direct script.
#
# Usage: bench/run_steps.sh
# Env:   RELCTL   relctl binary (default target/release/relctl, built with
#                 `cargo build --release` when missing)
#        STEPS    number of steps (default 200)
#        REPEATS  timed runs of each (default 7)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
steps=${STEPS:-200}
repeats=${REPEATS:-7}
# shellcheck source=relctl_binary.sh
source "$root/bench/relctl_binary.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
  echo "version: 1"
  echo "name: bench-run-steps"
  echo "description: $steps trivial run steps"
  echo "execute:"
  for i in $(seq "$steps"); do echo "  - run: /bin/true $i"; done
} >"$tmp/steps.yaml"

{
  echo "set -e"
  for i in $(seq "$steps"); do echo "/bin/true $i"; done
} >"$tmp/direct.sh"

{
  echo "set -e"
  for i in $(seq "$steps"); do echo "bash -eo pipefail -c '/bin/true $i'"; done
} >"$tmp/bash-c.sh"

python3 - "$relctl" "$tmp" "$steps" "$repeats" <<'PY'
import statistics, subprocess, sys, time

relctl, tmp, steps, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runs = 0

def timed(name, argv):
    global runs
    runs += 1
    log = f"{tmp}/{name}-{runs}.log"
    with open(log, "w") as out:
        start = time.perf_counter()
        code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=tmp).returncode
        took = time.perf_counter() - start
    if code != 0:
        sys.stdout.write(open(log).read())
        sys.exit(f"{name} exited {code}: {' '.join(argv)}")
    return took

contenders = {
    "direct": lambda: timed("direct", ["bash", f"{tmp}/direct.sh"]),
    "bash -c": lambda: timed("bash-c", ["bash", f"{tmp}/bash-c.sh"]),
    "relctl": lambda: timed("relctl", [relctl, "run", f"{tmp}/steps.yaml", "--non-interactive", "--approve", "all",
                                       "-q", "--state-dir", f"{tmp}/state-{runs}"]),
}
for run in contenders.values():  # warm-up: page cache, first exec
    run()
times = {name: [] for name in contenders}
for _ in range(repeats):
    for name, run in contenders.items():
        times[name].append(run())

median = {name: statistics.median(t) for name, t in times.items()}
print(f"{steps} run steps (/bin/true N), median of {repeats} runs")
for name, m in median.items():
    print(f"  {name:<14} {m:7.3f} s  {1000 * m / steps:6.2f} ms/step")
direct, bash_c = median["relctl"] / median["direct"], median["relctl"] / median["bash -c"]
print(f"  relctl / direct   {direct:5.2f}x  (goal <= 1.3x{', MISSED' if direct > 1.3 else ''})")
print(f"  relctl / bash -c  {bash_c:5.2f}x")
PY
