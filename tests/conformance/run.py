#!/usr/bin/env python3
"""Runs the conformance corpus (corpus.py) against the real goro binary.

    run.py --goro build/goro --mode goroutine [--server-arg=--poller=epoll] [--only TEXT] [-v]

Starts goro with --port 0 (it logs the port), sends each case on its own
connection to 127.0.0.1, and checks the final statuses in order, interim
responses where the case names them, what happened to the connection (closed,
or kept and still in step: a follow-up request gets exactly its own answer),
goro's bodies and fields where the case says, on every response an IMF-fixdate
Date and Content-Length (absent on 204/304), and 'Connection: close' on the last
response before a close.  After a case that is rejected or closed, a fresh
connection must still get 200.  Prints every case, then the coverage
by RFC section; exits 1 if any case failed.  Reads are bounded by a per-case
deadline; nothing waits on a sleep."""

import argparse
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import wire  # noqa: E402

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT")


class Observation:
    def __init__(self):
        self.finals = []      # wire.Response, in order
        self.interim = []     # 1xx statuses, in order
        self.conn = None      # "closed", "kept" or "timeout"
        self.followup = None  # status of the follow-up when the connection was kept
        self.note = ""        # what went wrong on the wire, if anything

    @property
    def statuses(self):
        return [r.status for r in self.finals]

    def summary(self):
        s = ",".join(map(str, self.statuses)) or "none"
        conn = self.conn if self.conn != "kept" or self.followup == corpus.FOLLOWUP_STATUS else \
            f"kept, then {self.followup}"
        return f"{s} / {conn}"


def observe(port, case, timeout):
    """Plays the case on a fresh connection and records what the server did."""
    o = Observation()
    deadline = time.monotonic() + timeout
    c = wire.Conn(port, deadline)
    want = len(case.status)
    shut = False

    def read_final():
        while True:
            r = c.read_response(head_request=case.head)
            if r.status < 200:
                o.interim.append(r.status)
                continue
            o.finals.append(r)
            return r

    try:
        for step in case.send:
            if step == "shut_wr":
                c.shut_wr()
                shut = True
            elif isinstance(step, tuple):  # ("await", 100): the interim response before going on
                r = c.read_response()
                if r.status < 200:
                    o.interim.append(r.status)
                else:
                    o.finals.append(r)
                    break
            elif not c.send(step):
                break
        while len(o.finals) < want:
            read_final()
        if shut:
            extra = c.wait_closed()
            o.conn = "closed"
            if extra:
                o.note = f"bytes after the last response: {extra[:80]!r}"
            return o
        # The connection's state: a follow-up request either finds it closed
        # or gets exactly its own answer (anything else is a stray response).
        if not c.send(corpus.FOLLOWUP):
            o.conn = "closed"
            return o
        r = c.read_response()
        while r.status < 200:
            r = c.read_response()
        o.conn, o.followup = "kept", r.status
    except wire.Closed as e:
        o.conn = "closed"
        if len(o.finals) < want:
            o.note = str(e)
    except wire.Timeout:
        o.conn = "timeout"
        o.note = "timed out" + (f" waiting for response {len(o.finals) + 1}" if len(o.finals) < want else
                                " waiting for the follow-up's answer or EOF")
    except wire.Garbled as e:
        o.conn = "garbled"
        o.note = str(e)
    finally:
        c.close()
    return o


def check_goro(case, o):
    """The case's expectations on goro; a list of failures."""
    errs = []
    if o.statuses != case.status:
        errs.append(f"statuses {o.statuses}, expected {case.status}")
    if case.interim is not None and o.interim != case.interim:
        errs.append(f"interim {o.interim}, expected {case.interim}")
    if o.note:
        errs.append(o.note)
    if o.conn == "kept" and o.followup != corpus.FOLLOWUP_STATUS:
        errs.append(f"a stray response: the follow-up was answered {o.followup}")
    elif case.conn == "close" and o.conn != "closed":
        errs.append(f"connection {o.conn}, expected closed")
    elif case.conn == "keep" and o.conn != "kept":
        errs.append(f"connection {o.conn}, expected kept")
    elif case.conn == "either" and o.conn not in ("kept", "closed"):
        errs.append(f"connection {o.conn}")
    # RFC 9112 §9.6: a server closing SHOULD say so in its last response.
    if case.conn == "close" and o.finals and [v.lower() for v in o.finals[-1].header("Connection")] != ["close"]:
        errs.append(f"the last response before the close lacks 'Connection: close'")
    for r in o.finals:
        names = [k.lower() for k, _ in r.headers]
        if "date" not in names:
            errs.append(f"{r.status} without Date")
        elif not IMF_FIXDATE.fullmatch(r.header("Date")[0]):
            errs.append(f"Date {r.header('Date')[0]!r} is not an IMF-fixdate (RFC 9110 §5.6.7)")
        if r.status in (204, 304):
            if "content-length" in names:
                errs.append(f"{r.status} with Content-Length")
        elif "content-length" not in names:
            errs.append(f"{r.status} without Content-Length")
        if names.count("content-length") > 1:
            errs.append(f"{r.status} with two Content-Length fields")
    if case.check and len(o.finals) == len(case.status) and case.status:
        e = case.check(o.finals)
        if e:
            errs.append(e)
    return errs


def still_serving(port, timeout):
    try:
        o = observe(port, corpus.Case("-", "alive", corpus.get(b"Connection: close\r\n"), 200), timeout)
        return o.statuses == [200]
    except OSError:
        return False


def start_goro(argv, timeout=30):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log, found = [], threading.Event()
    port = []

    def drain():
        for line in iter(proc.stderr.readline, b""):
            text = line.decode(errors="replace")
            log.append(text)
            m = LISTEN_RE.search(text)
            if m and not port:
                port.append(int(m.group(1)))
                found.set()
        found.set()  # the log ended: the server exited

    threading.Thread(target=drain, daemon=True).start()
    found.wait(timeout)
    if not port:
        proc.kill()
        proc.wait()
        raise RuntimeError("goro did not log its port; its log:\n" + "".join(log))
    return proc, port[0], log


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--goro", required=True)
    ap.add_argument("--mode", default="goroutine")
    ap.add_argument("--server-arg", action="append", default=[])
    ap.add_argument("--only", help="run only cases whose name contains this")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("GORO_CONFORMANCE_TIMEOUT", 10)),
                    help="per-case deadline in seconds (bounds a failure; passing cases take milliseconds)")
    ap.add_argument("-j", "--jobs", type=int, default=8)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    if not os.access(a.goro, os.X_OK):
        print(f"conformance: no goro binary at {a.goro}", file=sys.stderr)
        return 1
    argv = [a.goro, f"--mode={a.mode}", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"] + a.server_arg
    proc, port, log = start_goro(argv)
    print(f"conformance: {' '.join(argv[1:])} on port {port}")
    cases = [c for c in corpus.CASES if not a.only or a.only in c.name]
    started = time.monotonic()

    def one(case):
        o = observe(port, case, a.timeout)
        errs = check_goro(case, o)
        rejected = not case.status or case.conn == "close" or any(s >= 400 for s in case.status)
        if rejected and not still_serving(port, a.timeout):
            errs.append("the server no longer answers a normal request afterwards")
        return case, o, errs

    results = []
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        for case, o, errs in ex.map(one, cases):
            results.append((case, errs))
            if errs or a.verbose:
                print(f"{'FAIL' if errs else 'ok  '} {case.name}: {o.summary()}")
                for e in errs:
                    print(f"       - {e}")

    # Coverage by RFC section.
    print(f"\ncoverage by section ({a.mode} {' '.join(a.server_arg)}):")
    total_fail = 0
    for sec in corpus.SECTION_ORDER:
        rs = [errs for case, errs in results if case.section == sec]
        if not rs:
            continue
        fails = sum(1 for e in rs if e)
        total_fail += fails
        print(f"  {sec:<14} {len(rs):3d} cases" + (f", {fails} FAILED" if fails else ""))
    print(f"  {'total':<14} {len(results):3d} cases, {len(results) - total_fail} passed, {total_fail} failed "
          f"in {time.monotonic() - started:.1f} s")

    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        print("conformance: goro did not exit within 30 s of SIGTERM")
        total_fail += 1
    if code != 0:
        print(f"conformance: goro exited with {code}; the end of its log:\n" + "".join(log[-20:]))
        total_fail += 1
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
