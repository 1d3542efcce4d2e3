#!/usr/bin/env python3
"""Smoke test of one goro example: start it on a free port, talk to it, stop it.

    smoke.py BINARY KIND      KIND: echo, chat, jsonapi or fanout

The example takes its port as first argument (0 = a free one) and prints
"listening on 127.0.0.1:PORT" once it accepts.  Every wait is bounded and
ends on a condition (a line read, the process gone), never on a sleep.
Exits 0 when the example answered as it should, 1 (with the reason) if not.
"""
import re
import signal
import socket
import subprocess
import sys
import time

TIMEOUT = 10.0  # seconds for any one step


class Failed(Exception):
    pass


def start(binary, *args):
    p = subprocess.Popen([binary, "0", *args], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    # readline blocks; the example prints its line at once or dies (EOF).
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            raise Failed(f"{binary} exited ({p.wait()}) before listening")
        m = re.search(r"listening on [0-9.]+:(\d+)", line)
        if m:
            return p, int(m.group(1))
    raise Failed(f"{binary} printed no 'listening on' line")


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Lines:
    """A TCP client that reads whole lines, each wait bounded."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""

    def send(self, text):
        self.s.sendall(text.encode())

    def expect(self, want):
        """Reads lines until one contains `want`; fails at the deadline."""
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while time.monotonic() < deadline:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                line = line.decode(errors="replace")
                seen.append(line)
                if want in line:
                    return line
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buf += chunk
        raise Failed(f"expected a line with {want!r}, got {seen!r}")

    def close(self):
        self.s.close()


def http_get(port, path):
    """One HTTP/1.1 GET; returns (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not m:
        raise Failed(f"GET {path}: not an HTTP response: {data[:200]!r}")
    return int(m.group(1)), body.decode(errors="replace")


def check_echo(binary):
    p, port = start(binary)
    try:
        c = Lines(port)
        c.send("hello, goro\n")
        c.expect("hello, goro")
        c.close()
    finally:
        stop(p)


def check_chat(binary):
    p, port = start(binary)
    try:
        a, b = Lines(port), Lines(port)
        a.send("/nick ann\n/join lobby\n")
        a.expect("* ann joined lobby")
        b.send("/nick bob\n/join lobby\n")
        a.expect("* bob joined lobby")  # bob is in the room: lines reach him
        a.send("hello from ann\n")
        b.expect("ann: hello from ann")
        b.send("hi from bob\n")
        a.expect("bob: hi from bob")
        a.close()
        b.close()
    finally:
        stop(p)


def check_jsonapi(binary):
    for mode in ("goroutine", "thread"):
        p, port = start(binary, mode)
        try:
            status, body = http_get(port, "/users/1")
            if status != 200 or '"name":"ann"' not in body:
                raise Failed(f"{mode}: GET /users/1: {status} {body!r}")
            status, body = http_get(port, "/users/42")
            if status != 404:
                raise Failed(f"{mode}: GET /users/42 (no such user): {status} {body!r}")
        finally:
            stop(p)


def check_fanout(binary):
    p, port = start(binary)
    try:
        status, body = http_get(port, "/fanout?n=3&ms=10")
        if status != 200 or '"ok":3' not in body:
            raise Failed(f"GET /fanout?n=3&ms=10: {status} {body!r}")
    finally:
        stop(p)


CHECKS = {"echo": check_echo, "chat": check_chat, "jsonapi": check_jsonapi, "fanout": check_fanout}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in CHECKS:
        sys.exit(f"usage: smoke.py BINARY {'|'.join(CHECKS)}")
    try:
        CHECKS[sys.argv[2]](sys.argv[1])
    except (Failed, OSError) as e:
        print(f"smoke {sys.argv[2]}: FAIL: {e}")
        sys.exit(1)
    print(f"smoke {sys.argv[2]}: ok")


if __name__ == "__main__":
    main()
