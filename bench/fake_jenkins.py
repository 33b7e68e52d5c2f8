#!/usr/bin/env python3
"""A loopback Jenkins stand-in for benchmarks (not for tests: those use the
Rust fake in tests/support). One job, `bench`, whose build streams a console
log of LOG_MIB MiB through logText/progressiveText in PIECE_MIB pieces, then
ends with RESULT. Prints "PORT <n>" when ready; on stdout also prints
"ENDS_AT <unix seconds>" when a build is triggered: the moment it turns
RESULT (RUN_SECONDS after the trigger).

Usage: fake_jenkins.py LOG_MIB PIECE_MIB RESULT [RUN_SECONDS]
RUN_SECONDS: keep the build running at least this long (for the latency run).
"""
import http.server
import socketserver
import sys
import threading
import time

LOG_MIB, PIECE_MIB, RESULT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
RUN_SECONDS = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
LINE = b"".join(b"[build] step %06d: compiling module with a reasonably long console line\n" % i for i in range(1024))
LOG_SIZE = LOG_MIB * 1024 * 1024
PIECE = PIECE_MIB * 1024 * 1024
state = {"started": None}
lock = threading.Lock()


def log_bytes(start, end):
    """Bytes [start, end) of the synthetic log, built from a repeating block."""
    out = bytearray()
    pos = start
    while pos < end:
        off = pos % len(LINE)
        take = min(len(LINE) - off, end - pos)
        out += LINE[off:off + take]
        pos += take
    return bytes(out)


BLOCK = log_bytes(0, PIECE) if PIECE % len(LINE) == 0 else None


def finished():
    with lock:
        if state["started"] is None:
            return False
        return time.time() - state["started"] >= RUN_SECONDS


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/job/bench/build"):
            with lock:
                state["started"] = time.time()
                print(f"ENDS_AT {state['started'] + RUN_SECONDS:.6f}", flush=True)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            self.send(201, headers=[("Location", f"{base}/queue/item/1/")])
        elif self.path.endswith("/stop"):
            self.send(200)
        else:
            self.send(404)

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/queue/item/1/api/json"):
            body = b'{"cancelled":false,"executable":{"number":1,"url":"%s/job/bench/1/"}}' % base.encode()
            self.send(200, body, [("Content-Type", "application/json")])
        elif self.path.startswith("/job/bench/1/logText/progressiveText"):
            start = int(self.path.split("start=")[1]) if "start=" in self.path else 0
            end = min(start + PIECE, LOG_SIZE)
            body = BLOCK if (BLOCK is not None and start % PIECE == 0 and end - start == PIECE) else log_bytes(start, end)
            more = end < LOG_SIZE or not finished()
            headers = [("Content-Type", "text/plain"), ("X-Text-Size", str(end))]
            if more:
                headers.append(("X-More-Data", "true"))
            self.send(200, body, headers)
        elif self.path.startswith("/job/bench/1/api/json"):
            done = finished()
            result = ('"%s"' % RESULT) if done else "null"
            body = ('{"building":%s,"result":%s,"duration":1234}' % ("false" if done else "true", result)).encode()
            self.send(200, body, [("Content-Type", "application/json")])
        else:
            self.send(404)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", 0), Handler)
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()
