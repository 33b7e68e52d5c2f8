#!/usr/bin/env python3
"""Benchmark-style fault matrix, not a test: kill -9 relctl at every journal
flush of a 20-step release, then resume until the run ends, and count what
happened to the steps.

A run's journal flushes (fdatasync) before every side effect; strace's
fault injection delivers SIGKILL on the Nth fdatasync of the relctl process,
so each kill point is a crash at a different journal event. Every step is
`idempotent: true`, so resume may re-run the one that was cut off; a step
whose end was recorded must never run again.

Prints: kill points, runs finished after resuming, steps lost (never
completed), steps doubled (completed twice).

Usage: bench/fault_matrix.py   (needs strace; RELCTL=path to the binary,
default target/release/relctl, STEPS=20)
"""
import os, shutil, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
relctl = os.environ.get("RELCTL", os.path.join(root, "target/release/relctl"))
steps = int(os.environ.get("STEPS", "20"))
if not os.path.exists(relctl):
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
if not shutil.which("strace"):
    sys.exit("strace is needed (apt-get install strace)")

runbook = ["version: 1", "name: fault-matrix", "execute:"]
for i in range(steps):
    runbook += [f"  - id: s{i}", "    idempotent: true", f"    run: echo start-{i} >> marks.txt && echo end-{i} >> marks.txt"]
runbook += ["validate:", "  - idempotent: true", "    run: grep -q end-%d marks.txt" % (steps - 1),
            "finalize:", "  - idempotent: true", "    run: echo fin > fin.txt"]
text = "\n".join(runbook) + "\n"

env = dict(os.environ, RELCTL_ACTOR="matrix", NO_COLOR="1")
env.pop("CI", None)

def run(args, cwd, kill_at=None):
    cmd = [relctl] + args + ["--non-interactive", "-q"]
    if kill_at is not None:
        cmd = ["strace", "-o", "/dev/null", "-e", "trace=fdatasync",
               "-e", f"inject=fdatasync:signal=SIGKILL:when={kill_at}"] + cmd
    return subprocess.run(cmd, cwd=cwd, env=dict(env, RELCTL_LOCK_DIR=os.path.join(cwd, "locks")),
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode

# How many flushes a clean run makes: every one is a kill point.
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "release.yaml"), "w").write(text)
    out = subprocess.run(["strace", "-f", "-c", "-e", "trace=fdatasync", "-o", os.path.join(d, "count"), relctl,
                          "run", "release.yaml", "--non-interactive", "-q"], cwd=d, env=dict(env, RELCTL_LOCK_DIR=os.path.join(d, "locks")),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    line = [l for l in open(os.path.join(d, "count")) if "fdatasync" in l][0]
    flushes = int(line.split()[3])

finished = lost = doubled = 0
for n in range(1, flushes + 1):
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "release.yaml"), "w").write(text)
        code = run(["run", "release.yaml"], d, kill_at=n)
        for _ in range(5):
            if code in (0, 3):
                break
            # Killed before the journal began: nothing happened; run it again.
            started = any(os.path.exists(os.path.join(r, "journal.jsonl")) and os.path.getsize(os.path.join(r, "journal.jsonl"))
                          for r in [os.path.join(d, ".relctl/runs", x) for x in os.listdir(os.path.join(d, ".relctl/runs"))])
            code = run(["resume"] if started else ["run", "release.yaml"], d)
        marks = open(os.path.join(d, "marks.txt")).read().split() if os.path.exists(os.path.join(d, "marks.txt")) else []
        ends = [marks.count(f"end-{i}") for i in range(steps)]
        released = subprocess.run([relctl, "history"], cwd=d, capture_output=True, text=True).stdout.count("RELEASED") == 1
        if os.environ.get("VERBOSE"):
            print(n, code, released, ends)
        finished += released and os.path.exists(os.path.join(d, "fin.txt"))
        lost += sum(1 for e in ends if e == 0)
        doubled += sum(1 for e in ends if e > 1)

print(f"{steps} steps, kill -9 at each of {flushes} journal flushes, then resume")
print(f"  kill points {flushes}")
print(f"  finished    {finished}")
print(f"  lost        {lost}")
print(f"  doubled     {doubled}")
