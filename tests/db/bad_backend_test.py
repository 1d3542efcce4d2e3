#!/usr/bin/env python3
"""tests/db/bad_backend_test.py — CTest's db.bad_backend.*: goro against a fake
PostgreSQL that misbehaves in ways a real one rarely does on demand, in one mode per
CTest entry.  The fake speaks just enough of the wire protocol (startup, Parse, Sync)
for goro's pool to connect and prepare its statements; then, per --fault:

- garbage: a query is answered with a message whose length is absurd, so libpq
  drops the connection while parsing ("lost synchronization").  /queries (a
  pipeline) and /db must answer 503 "database unavailable" at once, and the server
  must go on serving /plaintext.  (A pipeline that did not notice the lost
  connection spun on its worker for ever: no answer, and in goroutine mode the
  whole server stalled.)
- silent: a query is never answered, and a cancel request is read but its
  connection never closed (a hung database: PQcancel would block for ever).  With
  --db-pool 1 and --db-timeout 500ms, two concurrent /db both answer 504 or 503
  within a few seconds: the holder at its deadline, the waiter when the holder gives
  the connection back.  Then SIGTERM ends the server within its --shutdown-timeout.

    python3 tests/db/bad_backend_test.py --binary build/goro --mode thread --fault silent
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
import tfb_checks as tc  # noqa: E402
from server_process import ServerProcess  # noqa: E402

SKIP = 77
CANCEL_REQUEST, SSL_REQUEST, GSS_REQUEST = 80877102, 80877103, 80877104


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            raise EOFError
        b += x
    return b


def message(kind, payload=b""):
    return kind + struct.pack("!i", 4 + len(payload)) + payload


class FakePostgres:
    """A listener on 127.0.0.1 that plays PostgreSQL up to the first query."""

    def __init__(self, fault):
        self.fault = fault
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.cancels = 0  # guarded by cv
        self.cv = threading.Condition()
        self.held = []  # connections kept open on purpose
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            while True:  # startup: refuse SSL and GSS encryption, take the startup packet
                length, code = struct.unpack("!ii", recv_exact(c, 8))
                recv_exact(c, length - 8)
                if code in (SSL_REQUEST, GSS_REQUEST):
                    c.sendall(b"N")
                    continue
                if code == CANCEL_REQUEST:
                    self.held.append(c)  # never closed: PQcancel waits for ever
                    with self.cv:
                        self.cancels += 1
                        self.cv.notify_all()
                    return
                break
            ready = message(b"Z", b"I")
            c.sendall(message(b"R", struct.pack("!i", 0)) + message(b"K", struct.pack("!ii", 4242, 1)) + ready)
            while True:
                kind = recv_exact(c, 1)
                length = struct.unpack("!i", recv_exact(c, 4))[0]
                recv_exact(c, length - 4)
                if kind == b"P":
                    c.sendall(message(b"1"))  # ParseComplete
                elif kind == b"S":
                    c.sendall(ready)
                elif kind == b"B":  # a query
                    if self.fault == "garbage":
                        c.sendall(b"C" + struct.pack("!i", 100_000_000))  # CommandComplete of 100 MB
                    self.held.append(c)
                    return
                elif kind == b"X":
                    c.close()
                    return
        except (EOFError, OSError):
            c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--mode", default="goroutine")
    ap.add_argument("--poller")
    ap.add_argument("--fault", choices=["garbage", "silent"], required=True)
    a = ap.parse_args()

    fake = FakePostgres(a.fault)
    argv = [a.binary, f"--mode={a.mode}", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
            "--db", f"host=127.0.0.1 port={fake.port} dbname=x user=x sslmode=disable gssencmode=disable",
            "--db-pool", "1", "--db-timeout", "500ms", "--shutdown-timeout", "2s"]
    if a.poller:
        argv.append(f"--poller={a.poller}")
    server = ServerProcess(argv)
    if server.port is None:
        log = server.text()
        server.stop()
        if "io_uring is unavailable" in log:  # --poller=uring on a kernel that refuses it
            print("SKIPPED: the kernel refuses io_uring:\n" + log)
            return SKIP
        print("FAIL: the server did not start:\n" + log)
        return 1
    failed = []

    def check(name, ok, detail):
        print(f"{'ok  ' if ok else 'FAIL'}    {name}: {detail}", flush=True)
        if not ok:
            failed.append(name)

    def get(path, results=None, timeout=10):
        t0 = time.monotonic()
        try:
            r = tc.fetch("127.0.0.1", server.port, path, timeout)
            out = (r.status, r.body, time.monotonic() - t0)
        except (OSError, ValueError) as e:
            out = (None, str(e).encode(), time.monotonic() - t0)
        if results is not None:
            results.append(out)
        return out

    try:
        if a.fault == "garbage":
            for path in ("/queries?queries=3", "/db", "/queries?queries=3"):
                status, body, took = get(path)
                check(f"{path}: 503 at once", status == 503 and b"database unavailable" in body and took < 5,
                      f"{status} in {took:.2f} s: {body[:120]!r}")
                st, _b, took = get("/plaintext", timeout=5)
                check("/plaintext still served", st == 200, f"{st} in {took:.2f} s")
        else:
            results = []
            threads = [threading.Thread(target=get, args=("/db", results)) for _ in range(2)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(15)
            for status, body, took in results:
                check("/db over a hung database: 504 or 503 in time",
                      status in (503, 504) and took < 5, f"{status} in {took:.2f} s: {body[:100]!r}")
            check("both answered", len(results) == 2, f"{len(results)} of 2")
            st, _b, took = get("/plaintext", timeout=5)
            check("/plaintext still served", st == 200, f"{st} in {took:.2f} s")
            # The cancel goes out from its own thread after the answer: wait for
            # it (bounded), never sleep.
            with fake.cv:
                fake.cv.wait_for(lambda: fake.cancels >= 1, timeout=10)
                cancels = fake.cancels
            check("the cancel request reached the database", cancels >= 1, f"{cancels} cancel requests")
        t0 = time.monotonic()
        code = server.stop(timeout=15)
        check("SIGTERM: the server exits 0 in time", code == 0, f"exit {code} after {time.monotonic() - t0:.1f} s")
    finally:
        server.kill()
    if failed:
        print("the end of the server's log:\n" + "".join(server.text().splitlines(True)[-20:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
