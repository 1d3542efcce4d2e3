#!/usr/bin/env python3
"""loadtest.floor: the floor peer (peers/floor/floor.cpp) answers what it should.

loadtest/compare takes the floor's figures as the least a server can do, so a
floor that answered too few, too early or to the wrong connection would make
every ratio against it wrong.  Checked here, against the built goro-floor:

  - at once: one canned response per request, three for three pipelined in one
    write, in one stream;
  - --delay-ms: no answer before the delay has passed since the request was sent;
  - --delay-ms: a batch held for a connection that closed is dropped, not sent to
    the next connection (which gets the same descriptor number);
  - a bad --delay-ms is refused with exit status 2 and a message.

usage: floor_test.py --floor PATH/goro-floor
"""
import argparse
import re
import socket
import subprocess
import sys
import time

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
            b"Hello, World!\n")
GET = b"GET /sleep?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n"
WAIT_S = 10  # the most any answer may take before the test calls it lost


def start(floor, *args):
    p = subprocess.Popen([floor, "--port", "0", *args], stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        sys.exit(f"goro-floor did not say where it listens: {line!r}")
    return p, int(m.group(1))


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)


def read_exactly(s, n):
    """n bytes, or fails the test when the floor closes or WAIT_S passes."""
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise AssertionError(f"connection closed after {len(got)} of {n} bytes: {got!r}")
        got += chunk
    return got


def nothing_more(s):
    """True when nothing is readable now (a zero timeout: what already arrived)."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""  # closed: nothing more either
    except BlockingIOError:
        return True
    finally:
        s.setblocking(True)
        s.settimeout(WAIT_S)


def check_at_once(floor):
    p, port = start(floor)
    try:
        s = connect(port)
        s.sendall(GET)
        assert read_exactly(s, len(RESPONSE)) == RESPONSE
        s.sendall(GET * 3)
        assert read_exactly(s, 3 * len(RESPONSE)) == RESPONSE * 3
        assert nothing_more(s), "more than one answer per request"
        s.close()
    finally:
        p.kill()
        p.wait()
    print("ok: one answer per request, three for three pipelined")


def check_delay(floor):
    delay_ms = 300
    p, port = start(floor, "--delay-ms", str(delay_ms))
    try:
        s = connect(port)
        t0 = time.monotonic()
        s.sendall(GET)
        got = read_exactly(s, len(RESPONSE))
        took = time.monotonic() - t0
        assert got == RESPONSE, got
        assert took >= delay_ms / 1000, f"answered after {took * 1000:.1f} ms, before the {delay_ms} ms delay"
        print(f"ok: answered after {took * 1000:.1f} ms with --delay-ms {delay_ms}")

        # A's request is held; A closes (the floor's close is seen as EOF here)
        # before it is due.  B then connects (on A's descriptor number, the
        # lowest free) and asks once; C asks after B.  One FIFO: once C's
        # answer is here, A's batch and B's have gone out, so B must hold
        # exactly one answer, its own.
        a = connect(port)
        a.sendall(GET)
        a.shutdown(socket.SHUT_WR)
        assert a.recv(1) == b"", "the floor answered a held request early, or did not close"
        a.close()
        b = connect(port)
        b.sendall(GET)
        c = connect(port)
        c.sendall(GET)
        assert read_exactly(b, len(RESPONSE)) == RESPONSE
        assert read_exactly(c, len(RESPONSE)) == RESPONSE
        assert nothing_more(b), "B got two answers for one request: a closed connection's went to it"
        for x in (b, c, s):
            x.close()
    finally:
        p.kill()
        p.wait()
    print("ok: a closed connection's held answer is dropped, not sent to the next one")


def check_bad_flag(floor):
    r = subprocess.run([floor, "--delay-ms", "x1"], capture_output=True, text=True, timeout=WAIT_S)
    assert r.returncode == 2 and "--delay-ms" in r.stderr, (r.returncode, r.stderr)
    print("ok: --delay-ms x1 refused:", r.stderr.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--floor", required=True)
    a = ap.parse_args()
    check_at_once(a.floor)
    check_delay(a.floor)
    check_bad_flag(a.floor)


if __name__ == "__main__":
    main()
