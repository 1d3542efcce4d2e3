#!/usr/bin/env python3
"""tests/db/tfb_stub.py — a small reference server for the six TechEmpower endpoints
(answers through psql), with one deliberate bug at a time (--fault), so tfb_test.py's
checks can be seen to pass on correct answers and to fail on each kind of wrong one.
Used by the self-test (tfb_selftest.py); not a benchmark peer.

    tfb_stub.py --port 0 --db CONNINFO [--fault NAME]

Starts like goro and the Go peer: "listening on 127.0.0.1:PORT" on stderr.
"""

import argparse
import email.utils
import html
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfb_checks as tc  # noqa: E402

FAULTS = {
    "none": "correct answers",
    "json-extra-key": '/json answers {"message": ..., "extra": 1}',
    "plaintext-newline": "/plaintext ends with a newline",
    "no-date": "no Date header",
    "stale-date": "the Date of 1994",
    "frozen-date": "the Date of start-up, never updated",
    "content-length": "Content-Length one more than the body",
    "db-wrong-row": "/db answers a randomNumber the database does not hold",
    "db-string-id": '/db answers "id" as a string',
    "queries-no-max": "/queries does not clamp to 500",
    "queries-zero": "/queries?queries=0 answers an empty array",
    "queries-foo-error": "/queries?queries=foo answers 400",
    "fortunes-unescaped": "/fortunes writes messages without HTML escaping",
    "fortunes-no-added": "/fortunes without the row added at request time",
    "fortunes-unsorted": "/fortunes in id order",
    "fortunes-charrefs": "/fortunes writes non-ASCII as character references",
    "fortunes-content-type": "/fortunes as text/html without charset",
    "updates-not-persisted": "/updates answers new numbers without writing them",
    "updates-wrong-row": "/updates writes the new number to the next id",
    "updates-lose-one": "/updates writes all rows but the last",
    "pool-unbounded": "ignores --db-pool: one database session per request (held 1 s)",
    "down-500": "database unreachable: 500 instead of 503",
    "deadline-no-cancel": "past --db-timeout, answers 504 but leaves the query running",
}


def queries_count(qs, fault):
    try:
        n = int(parse_qs(qs, keep_blank_values=True).get("queries", ["1"])[0])
    except ValueError:
        if fault == "queries-foo-error":
            return None
        n = 1
    if fault == "queries-zero" and n == 0:
        return 0
    return max(1, min(n, 1000 if fault == "queries-no-max" else tc.MAX_QUERIES))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--db", required=True)
    ap.add_argument("--db-pool", type=int, default=16, help="psql processes at once")
    ap.add_argument("--db-timeout", default="5s", help="statement_timeout: PostgreSQL cancels a slower query")
    ap.add_argument("--fault", choices=FAULTS, default="none")
    a, _ = ap.parse_known_args()  # goro's other flags (--mode, --log-level...) mean nothing here
    fault = a.fault
    pool = threading.BoundedSemaphore(100000 if fault == "pool-unbounded" else a.db_pool)
    timeout_ms = int(float(a.db_timeout[:-2]) if a.db_timeout.endswith("ms") else float(a.db_timeout.rstrip("s")) * 1000)
    cancel = fault != "deadline-no-cancel"
    env = dict(os.environ, PGAPPNAME="tfb_stub")  # a server's sessions, to tfb_test.py
    if cancel:
        env["PGOPTIONS"] = f"-c statement_timeout={timeout_ms}"

    class DbError(Exception):
        def __init__(self, status, text):
            super().__init__(text)
            self.status = status

    class Db(tc.Psql):
        def query(self, sql):
            """Rows, or DbError: 504 past the deadline, 503 when the database is unreachable."""
            with pool:
                p = subprocess.Popen(self.argv("-c", sql), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
                try:
                    # deadline-no-cancel: past the deadline (plus time for psql to start
                    # on a loaded machine) answer 504 but leave the query running, as a
                    # server that forgets to cancel does.
                    out, errb = p.communicate(timeout=30 if cancel else timeout_ms / 1000 + 1.5)
                except subprocess.TimeoutExpired:
                    raise DbError(504, "database timeout (the query left running)") from None
            err = errb.decode(errors="replace").strip()
            if p.returncode == 0:
                return [tuple(line.split("\t")) for line in out.decode().splitlines() if line]
            if "statement timeout" in err:
                raise DbError(504, f"database timeout: {err}")
            raise DbError(500 if fault == "down-500" else 503, f"database unavailable: {err}")

    db = Db(a.db)

    def rows_for(ids):
        # pool-unbounded: sessions held long enough to overlap, as a server's would under load.
        hold = "pg_sleep(1), " if fault == "pool-unbounded" else ""
        got = dict((int(r[-2]), int(r[-1])) for r in db.query(
            f"SELECT {hold}id, randomnumber FROM world WHERE id IN ({','.join(map(str, set(ids)))})"))
        return [{"id": i, "randomNumber": got[i]} for i in ids]

    started = email.utils.formatdate(usegmt=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def date_time_string(self, timestamp=None):
            if fault == "stale-date":
                return "Sun, 06 Nov 1994 08:49:37 GMT"
            return started if fault == "frozen-date" else super().date_time_string(timestamp)

        def answer(self, status, ctype, body):
            self.send_response_only(status)
            self.send_header("Server", "tfb-stub")
            if fault != "no-date":
                self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) + (fault == "content-length")))
            self.end_headers()
            self.wfile.write(body)

        def json(self, v):
            self.answer(200, "application/json", json.dumps(v).encode())

        def do_GET(self):
            try:
                self.route(urlsplit(self.path))
            except DbError as e:
                self.answer(e.status, "text/plain; charset=utf-8", str(e).encode())

        def route(self, u):
            if u.path == "/json":
                self.json({"message": "Hello, World!", **({"extra": 1} if fault == "json-extra-key" else {})})
            elif u.path == "/plaintext":
                self.answer(200, "text/plain", b"Hello, World!" + (b"\n" if fault == "plaintext-newline" else b""))
            elif u.path == "/db":
                o = rows_for([random.randint(1, 10000)])[0]
                if fault == "db-wrong-row":
                    o["randomNumber"] = o["randomNumber"] % 10000 + 1
                if fault == "db-string-id":
                    o["id"] = str(o["id"])
                self.json(o)
            elif u.path in ("/queries", "/updates"):
                n = queries_count(u.query, fault)
                if n is None:
                    return self.answer(400, "text/plain", b"bad queries")
                rows = rows_for([random.randint(1, 10000) for _ in range(n)]) if n else []
                if u.path == "/updates" and rows:
                    for o in rows:
                        o["randomNumber"] = random.randint(1, 10000)
                    written = rows[:-1] if fault == "updates-lose-one" else rows
                    shift = 1 if fault == "updates-wrong-row" else 0
                    if fault != "updates-not-persisted" and written:
                        values = ",".join(f"({o['id'] % 10000 + shift if shift else o['id']},{o['randomNumber']})"
                                          for o in written)
                        db.query(f"UPDATE world SET randomnumber = v.n FROM (VALUES {values}) AS v(id, n) "
                                 f"WHERE world.id = v.id")
                self.json(rows)
            elif u.path == "/fortunes":
                rows = db.fortunes() + ([] if fault == "fortunes-no-added" else [(0, tc.ADDED_FORTUNE)])
                rows.sort(key=lambda r: r[0] if fault == "fortunes-unsorted" else r[1])

                def esc(m):
                    if fault == "fortunes-unescaped":
                        return m
                    m = html.escape(m)
                    return m.encode("ascii", "xmlcharrefreplace").decode() if fault == "fortunes-charrefs" else m
                body = ("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
                        "<tr><th>id</th><th>message</th></tr>"
                        + "".join(f"<tr><td>{i}</td><td>{esc(m)}</td></tr>" for i, m in rows)
                        + "</table></body></html>")
                ctype = "text/html" if fault == "fortunes-content-type" else "text/html; charset=utf-8"
                self.answer(200, ctype, body.encode("utf-8"))
            else:
                self.answer(200 if u.path == "/" else 404, "text/plain", b"Hello, World!\n")

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer.request_queue_size = 4096  # 1000 connections at once: no SYN retries
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"tfb-stub ({fault}): listening on 127.0.0.1:{srv.server_address[1]}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a clean exit, like the real servers
    srv.serve_forever()


if __name__ == "__main__":
    main()
