#!/usr/bin/env bash
# Benchmark, not a test: what one ALB traffic shift costs through relctl
# against the honest baseline, the AWS CLI doing the same change.
#
# Against moto's ELBv2 on loopback (one load balancer, two target groups,
# a listener; set up by tests/support/alb.py), times SHIFTS alternating
# shifts (25 %, 75 %, …) as
#   - relctl: one runbook of SHIFTS `alb.shift` steps (each describes the
#     listener, journals the original once, modifies, and reads back), and
#   - aws: SHIFTS `aws elbv2 modify-listener` calls with the same weights
#     (no describe, no read-back, no journal),
#   - curl: SHIFTS signed ModifyListener requests (curl --aws-sigv4), the
#     bare API call,
# REPEATS times interleaved after a warm-up; prints the medians per shift.
#
# Usage: bench/alb_shift.sh        (starts moto itself, via scripts/moto.sh)
# Env:   RELCTL   relctl binary (default target/release/relctl, built when missing)
#        SHIFTS   shifts per run (default 20)
#        REPEATS  timed runs of each (default 5)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shifts=${SHIFTS:-20}
repeats=${REPEATS:-5}
# shellcheck source=relctl_binary.sh
source "$root/bench/relctl_binary.sh"
# shellcheck source=../scripts/moto.sh
source "$root/scripts/moto.sh"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$RELCTL_TEST_MOTO_URL AWS_EC2_METADATA_DISABLED=true

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; kill $moto_pid 2>/dev/null || true' EXIT
arns=$("$RELCTL_TEST_PYTHON" "$root/tests/support/alb.py" setup "bench-$$")
read -r listener blue green < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["listener"], d["blue"], d["green"])' "$arns")

{
  echo "version: 1"
  echo "name: bench-alb"
  echo "integrations:"
  echo "  aws: { region: us-east-1 }"
  echo "execute:"
  for i in $(seq "$shifts"); do
    echo "  - alb.shift: { listener: \"$listener\", stable: \"$blue\", canary: \"$green\", percent: $(( i % 2 ? 25 : 75 )) }"
  done
  echo "rollback:"
  echo "  - alb.rollback: { listener: \"$listener\" }"
} >"$tmp/shifts.yaml"

python3 - "$relctl" "$tmp" "$shifts" "$repeats" "$listener" "$blue" "$green" <<'PY'
import json, os, statistics, subprocess, sys, time

relctl, tmp, shifts, repeats, listener, blue, green = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:8]
runs = 0

def reset():
    # Blue alone, as before a release (alb.shift refuses a first shift while
    # another group still serves); not timed.
    action = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": blue, "Weight": 1}]}}]
    subprocess.run(["aws", "elbv2", "modify-listener", "--listener-arn", listener, "--default-actions", json.dumps(action)],
                   check=True, capture_output=True)

def with_relctl():
    global runs
    runs += 1
    reset()
    argv = [relctl, "run", f"{tmp}/shifts.yaml", "--non-interactive", "-q", "--state-dir", f"{tmp}/state-{runs}"]
    start = time.perf_counter()
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp,
                         env={"RELCTL_LOCK_DIR": f"{tmp}/locks", **os.environ})
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"relctl exited {out.returncode}: {out.stderr}")
    return took

def with_cli():
    start = time.perf_counter()
    for i in range(1, shifts + 1):
        p = 25 if i % 2 else 75
        action = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue, "Weight": 100 - p}, {"TargetGroupArn": green, "Weight": p}]}}]
        subprocess.run(["aws", "elbv2", "modify-listener", "--listener-arn", listener,
                        "--default-actions", json.dumps(action)], check=True, capture_output=True)
    return time.perf_counter() - start

def with_curl():
    # The bare API call: one signed ModifyListener (Query protocol) per shift.
    url = os.environ["AWS_ENDPOINT_URL"]
    start = time.perf_counter()
    for i in range(1, shifts + 1):
        p = 25 if i % 2 else 75
        form = {"Action": "ModifyListener", "Version": "2015-12-01", "ListenerArn": listener,
                "DefaultActions.member.1.Type": "forward",
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn": blue,
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight": str(100 - p),
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn": green,
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight": str(p)}
        argv = ["curl", "-fsS", "-o", "/dev/null", "--aws-sigv4", "aws:amz:us-east-1:elasticloadbalancing",
                "--user", "testing:testing", url + "/"]
        for k, v in form.items():
            argv += ["--data-urlencode", f"{k}={v}"]
        subprocess.run(argv, check=True)
    return time.perf_counter() - start

with_relctl(), with_cli(), with_curl()
r, c, u = [], [], []
for _ in range(repeats):
    r.append(with_relctl())
    c.append(with_cli())
    u.append(with_curl())
mr, mc, mu = statistics.median(r), statistics.median(c), statistics.median(u)
print(f"{shifts} shifts, median of {repeats}:")
print(f"  relctl alb.shift          {mr:.3f} s  ({mr / shifts * 1000:.1f} ms per shift: describe, journal, modify, read back; one process)")
print(f"  curl ModifyListener       {mu:.3f} s  ({mu / shifts * 1000:.1f} ms per shift: modify only; a process per shift)")
print(f"  aws elbv2 modify-listener {mc:.3f} s  ({mc / shifts * 1000:.1f} ms per shift: modify only; a process per shift)")
print(f"  relctl / curl: {mr / mu:.2f}x   relctl / aws CLI: {mr / mc:.2f}x")
PY
