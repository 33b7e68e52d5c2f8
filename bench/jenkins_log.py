#!/usr/bin/env python3
"""Benchmark, not a test: the Jenkins adapter against a loopback Jenkins.

1. Throughput and memory: follow a LOG_MIB (default 256) MiB console through
   logText/progressiveText, relctl's `jenkins` step vs a curl loop on the
   same endpoint writing to a file. Goal: relctl >= 80% of curl's
   throughput, peak RSS < 40 MiB.
2. Latency: from the moment a running build turns FAILURE to the first
   rollback step starting (from the journal). Goal: <= poll interval
   (default 2 s) + 250 ms.

Usage: bench/jenkins_log.py   (env RELCTL=path/to/relctl, LOG_MIB=256, REPEATS=3)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELCTL = os.environ.get("RELCTL", str(ROOT / "target/release/relctl"))
LOG_MIB = int(os.environ.get("LOG_MIB", "256"))
REPEATS = int(os.environ.get("REPEATS", "3"))


def start_server(*args):
    p = subprocess.Popen([sys.executable, str(ROOT / "bench/fake_jenkins.py"), *map(str, args)],
                         stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline().split()[1])
    return p, port


def curl_follow(port, out):
    """Trigger, then follow progressiveText the way a shell script would."""
    base = f"http://127.0.0.1:{port}"
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", "POST", f"{base}/job/bench/build"], check=True)
    start, more = 0, True
    with open(out, "wb") as f:
        while more:
            r = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/stdout",
                                f"{base}/job/bench/1/logText/progressiveText?start={start}"],
                               capture_output=True, check=True)
            head, _, body = r.stdout.partition(b"\r\n\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(b":") for line in head.split(b"\r\n")[1:])}
            f.write(body)
            start = int(headers[b"x-text-size"])
            more = headers.get(b"x-more-data") == b"true"
    return start


def runbook(dir, port, rollback=False):
    text = f"""version: 1
name: bench-jenkins
integrations:
  jenkins: {{ url: "http://127.0.0.1:{port}" }}
execute:
  - id: deploy
    jenkins: bench
"""
    if rollback:
        text += "validate:\n  - run: 'true'\nrollback:\n  - run: 'true'\n"
    path = Path(dir) / "rb.yaml"
    path.write_text(text)
    return path


def relctl(rb, state):
    """Runs relctl under GNU time: wall time, and relctl's own peak RSS (KiB)."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", RELCTL, "run", str(rb), "--non-interactive", "-q", "--state-dir", state],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    rss = int(next(l for l in p.stderr.splitlines() if "Maximum resident set size" in l).split()[-1])
    return p.returncode, took, rss, None


def main():
    if not Path(RELCTL).exists():
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    mib = LOG_MIB
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_server(mib, 8, "SUCCESS")
        try:
            curl_times, relctl_times, rss = [], [], []
            for i in range(REPEATS):
                t = time.perf_counter()
                size = curl_follow(port, f"{tmp}/curl.log")
                curl_times.append(time.perf_counter() - t)
                assert size == mib * 1024 * 1024, size
                code, took, peak, _ = relctl(runbook(tmp, port), f"{tmp}/state-{i}")
                rss.append(peak)
                assert code == 0, f"relctl exited {code}"
                relctl_times.append(took)
                logs = list(Path(f"{tmp}/state-{i}/runs").glob("*/*.console.log"))
                assert logs and logs[0].stat().st_size == mib * 1024 * 1024, "console log incomplete"
        finally:
            server.kill()
        c, r = statistics.median(curl_times), statistics.median(relctl_times)
        print(f"console of {mib} MiB, median of {REPEATS}")
        print(f"  curl loop    {c:6.2f} s  {mib / c:7.1f} MiB/s")
        print(f"  relctl       {r:6.2f} s  {mib / r:7.1f} MiB/s  ({100 * c / r:.0f}% of curl; goal >= 80%)")
        print(f"  relctl peak RSS {max(rss) / 1024:.1f} MiB, the most of {REPEATS} runs (goal < 40 MiB)")

        server, port = start_server(1, 1, "FAILURE", 5)
        try:
            state = f"{tmp}/latency"
            code, _, _, _ = relctl(runbook(tmp, port, rollback=True), state)
            ends_at = float(next(l for l in server.stdout if l.startswith("ENDS_AT")).split()[1])
        finally:
            server.kill()
        assert code == 3, f"expected a verified rollback (3), got {code}"
        journal = next(Path(state, "runs").glob("*/journal.jsonl"))
        events = [json.loads(l) for l in journal.read_text().splitlines()]
        first = next(e for e in events if e["event"] == "step_started" and e["key"].startswith("rollback."))
        started = datetime.fromisoformat(first["at"].replace("Z", "+00:00")).timestamp()
        print(f"  FAILURE -> first rollback step: {1000 * (started - ends_at):.0f} ms (goal <= 2000 + 250 ms, default poll 2 s)")


if __name__ == "__main__":
    main()
