#!/usr/bin/env bash
# Benchmark, not a test: what relctl costs per `run` step.
#
# Times a runbook of STEPS trivial run steps under `relctl run` against a
# plain bash script running the same commands, each through
# `bash -eo pipefail -c` as relctl does. Both run REPEATS times,
# interleaved, after one untimed warm-up; prints the median wall times and
# their ratio. Goal: relctl within 2x of the plain script.
#
# Usage: bench/run_steps.sh
# Env:   RELCTL   relctl binary (default target/release/relctl, built with
#                 `cargo build --release` when missing)
#        STEPS    number of steps (default 200)
#        REPEATS  timed runs of each (default 5)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
steps=${STEPS:-200}
repeats=${REPEATS:-5}
relctl=${RELCTL:-$root/target/release/relctl}

if [[ ! -x $relctl ]]; then
  [[ -z ${RELCTL:-} ]] || { echo "RELCTL=$RELCTL is not an executable" >&2; exit 2; }
  echo "building $relctl ..." >&2
  (cd "$root" && cargo build --release --quiet)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
  echo "version: 1"
  echo "name: bench-run-steps"
  echo "description: $steps trivial run steps"
  echo "execute:"
  for i in $(seq "$steps"); do echo "  - run: \": step $i\""; done
} >"$tmp/steps.yaml"

{
  echo "set -e"
  for i in $(seq "$steps"); do echo "bash -eo pipefail -c ': step $i'"; done
} >"$tmp/steps.sh"

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

def bash_run():
    return timed("bash", ["bash", f"{tmp}/steps.sh"])

def relctl_run():
    return timed("relctl", [relctl, "run", f"{tmp}/steps.yaml", "--non-interactive", "--approve", "all",
                            "-q", "--state-dir", f"{tmp}/state-{runs}"])

bash_run(), relctl_run()  # warm-up: page cache, first exec
bash_times, relctl_times = [], []
for _ in range(repeats):
    bash_times.append(bash_run())
    relctl_times.append(relctl_run())

b, r = statistics.median(bash_times), statistics.median(relctl_times)
ratio = r / b
print(f"{steps} run steps, median of {repeats} runs")
print(f"  bash -c script  {b:7.3f} s  {1000 * b / steps:6.2f} ms/step")
print(f"  relctl run      {r:7.3f} s  {1000 * r / steps:6.2f} ms/step")
print(f"  ratio           {ratio:7.2f}x  (goal <= 2x{', MISSED' if ratio > 2 else ''})")
PY
