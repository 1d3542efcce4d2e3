#!/usr/bin/env python3
"""tests/db/tfb_test.py — CTest's db.tfb.*: the TechEmpower test types against a real
PostgreSQL, checked by TechEmpower's verification rules (tfb_checks.py), and goro's
behaviour when the database fails.

    tfb_test.py --binary build/goro --mode goroutine --poller uring --conninfo-file build/db-test/conninfo
    tfb_test.py --binary GO_PEER --kind go --conninfo-file ...       # the Go peer's flags
    tfb_test.py --url http://127.0.0.1:8080 --conninfo-file ...      # a server already running
    tfb_test.py --binary build/goro --mode thread --case down --conninfo-file build/db-test/conninfo

--case endpoints (the default; --only json|plaintext|db|queries|fortunes|updates narrows it):
  /json, /plaintext, /db, /queries and /updates for every clamp case, /fortunes; every
  answer checked for Server, Date, Content-Type and a Content-Length equal to the body.
  Rows are compared with the database read through psql: /db and /queries answer real
  rows, /fortunes is the fortune table plus the added row, sorted and escaped, and
  /updates persisted what it answered and nothing else.
The failure cases start goro themselves (--binary), with the flags they need:
  pool      --db-pool 8: 1000 (--requests) /db in flight at once: all 200 and valid,
            and no more than 8 database sessions seen during the burst or after it;
  down      the database stopped (`DB_SCRIPT down DIR`): /db answers 503 naming
            "database unavailable" before the deadline while /, /json and /plaintext
            still answer 200; started again (`DB_SCRIPT up DIR`): /db answers 200 again
            (waited for with real requests, bounded) and so do 64 at once;
  deadline  --db-timeout 300ms, world locked by another psql session: /db answers 504
            naming "database timeout", goro's queries were seen waiting on the lock and
            are then cancelled in PostgreSQL (no lock waiter left), and once the lock is
            released a round of concurrent /db is all 200.

The database these tests change (the down case stops it; updates rewrite world) is
shared by every entry of the CTest fixture, so the entries take RESOURCE_LOCK db.
Exit 0 when every check passed, 1 when one failed, 77 (CTest: Skipped) with the reason
when psql, the conninfo file, the database script or io_uring is missing.
tfb_selftest.py shows each check failing on the bug it is for (tfb_stub.py's faults).
"""

import argparse
import json
import os
import queue
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import tfb_checks as tc  # noqa: E402
from server_process import ServerProcess  # noqa: E402

SKIP = 77
REQUEST_TIMEOUT = 30  # seconds: bounds a hung answer only; CTest's timeout bounds the whole run
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Skip(Exception):
    pass


class Results:
    def __init__(self):
        self.failed = []

    def check(self, name, problems, detail="ok"):
        if problems:
            print(f"FAIL    {name}:", flush=True)
            for p in problems[:10]:
                print(f"          - {p}", flush=True)
            if len(problems) > 10:
                print(f"          - ... and {len(problems) - 10} more", flush=True)
            self.failed.append(name)
        else:
            print(f"ok      {name}: {detail}", flush=True)
        return not problems


class Target:
    """Where the requests go; remembers every Date seen, to check the Date moves."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.dates = []  # (local time, Date header)

    def get(self, path, timeout=REQUEST_TIMEOUT):
        r = tc.fetch(self.host, self.port, path, timeout)
        if r.header("date"):
            self.dates.append((time.time(), r.header("date")))
        return r

    def try_get(self, path, timeout=REQUEST_TIMEOUT):
        """(response, []) or (None, [the error as a problem])."""
        try:
            return self.get(path, timeout), []
        except (OSError, ValueError) as e:
            return None, [f"GET {path}: {type(e).__name__}: {e}"]


def get_many(t, path, n, timeout):
    """n GETs of path in flight at once (one connection each, from one thread with a
    selector), every one sent before any answer is read.  Returns a list of n items,
    each a Response or the error text; the whole batch is bounded by timeout."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    req = tc.request_bytes(t.host, t.port, path)
    sel = selectors.DefaultSelector()
    results = [None] * n
    bufs = [[] for _ in range(n)]
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((t.host, t.port))
        sel.register(s, selectors.EVENT_WRITE, i)
    deadline = time.monotonic() + timeout
    pending = n
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            s, i = key.fileobj, key.data
            try:
                if ev & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.send(req)  # a few dozen bytes: one send into an empty buffer
                    sel.modify(s, selectors.EVENT_READ, i)
                    continue
                b = s.recv(65536)
                if b:
                    bufs[i].append(b)
                    continue
                results[i] = tc.parse_response(b"".join(bufs[i]))
            except (OSError, ValueError) as e:
                results[i] = f"{type(e).__name__}: {e}"
            sel.unregister(s)
            s.close()
            pending -= 1
    for key in list(sel.get_map().values()):
        results[key.data] = f"no complete answer within {timeout} s"
        key.fileobj.close()
    sel.close()
    return results


def summarize(results):
    """'N x status' counts, errors by text."""
    counts = {}
    for r in results:
        k = r.status if isinstance(r, tc.Response) else r
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{c} x {k}" for k, c in sorted(counts.items(), key=lambda kv: -kv[1]))


def check_batch(res, name, results, check):
    """Every response in the batch passes check(response) -> problems."""
    problems = []
    for i, r in enumerate(results):
        p = [r] if isinstance(r, str) else check(r)
        problems += [f"request {i}: {x}" for x in p]
    return res.check(name, problems, summarize(results))


# ---------------------------------------------------------------------------
# psql sessions kept open (a lock holder, a watcher)


class PsqlSession:
    """psql reading statements from a pipe; query() sends SQL then an \\echo marker and
    returns the rows printed before the marker.  Every read is bounded."""

    MARK = "--tfb-test-done--"

    def __init__(self, db):
        self.proc = subprocess.Popen(db.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=db.env,
                                     stderr=subprocess.STDOUT, text=True, encoding="utf-8")
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # EOF

    def query(self, sql, timeout=30):
        # The ';' sends a statement left open; \echo runs only after it has answered.
        self.proc.stdin.write(f"{sql.rstrip().rstrip(';')};\n\\echo {self.MARK}\n")
        self.proc.stdin.flush()
        rows, deadline = [], time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"psql gave no answer to {sql!r} within {timeout} s") from None
            if line is None:
                raise RuntimeError(f"psql exited (code {self.proc.wait()}) on {sql!r}; it said: {rows}")
            if line == self.MARK:
                return [tuple(x.split("\t")) for x in rows if x]
            rows.append(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # EOF: psql ends the session, rolling back an open transaction
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------
# Cases


GROUPS = ("json", "plaintext", "db", "queries", "fortunes", "updates")


def case_endpoints(res, t, db, only):
    world = db.world()
    fortunes = db.fortunes()
    print(f"database: world {len(world)} rows, fortune {len(fortunes)} rows", flush=True)
    for path, check in (("/json", tc.check_json), ("/plaintext", tc.check_plaintext)):
        if path[1:] in only:
            r, err = t.try_get(path)
            res.check(path, err or check(r))
    if "db" in only:
        check_db_random(res, t, world)
    if "queries" in only:
        for qs, want in tc.QUERY_CASES:
            path = "/queries" + qs
            r, err = t.try_get(path)
            rows, p = (None, err) if err else tc.check_world_list(r, want, world)
            # 500 random draws from 10,000 rows repeat ~12 ids; far fewer distinct ids
            # means the rows are not drawn at random.
            if rows and want == tc.MAX_QUERIES and len({o["id"] for o in rows}) < 400:
                p.append(f"only {len({o['id'] for o in rows})} distinct ids in {want} rows")
            res.check(path, p, f"{want} rows of the database")
    if "fortunes" in only:
        r, err = t.try_get("/fortunes")
        res.check("/fortunes", err or tc.check_fortunes(r, fortunes),
                  f"{len(fortunes) + 1} rows, sorted, escaped, UTF-8")
    if "updates" in only:
        check_updates(res, t, db)
    # A Date computed once (at start-up) would repeat: over a run of more than two
    # seconds it must take at least two values.
    if t.dates and t.dates[-1][0] - t.dates[0][0] > 2.5:
        distinct = len({d for _, d in t.dates})
        res.check("Date moves", [] if distinct >= 2 else [f"one Date over {t.dates[-1][0] - t.dates[0][0]:.1f} s: "
                                                          f"{t.dates[0][1]!r}"],
                  f"{distinct} distinct Date values over the run")


def check_db_random(res, t, world):
    """/db x 20: real rows, and random ones (20 answers naming one id: a fixed row)."""
    answers, problems = [], []
    for _ in range(20):
        r, err = t.try_get("/db")
        p = err or tc.check_db(r, world)
        problems += p
        if not p:
            answers.append(r)
    ids = {json.loads(r.body)["id"] for r in answers}
    if len(answers) == 20 and len(ids) < 2:
        problems.append(f"20 answers, all for id {ids}: not a random row")
    res.check("/db x 20", problems, f"20 rows of the database, {len(ids)} distinct ids")


def check_updates(res, t, db):
    """Each /updates answer against the whole table read before and after it."""
    unchanged_total = []
    for qs, want in tc.QUERY_CASES:
        path = "/updates" + qs
        before = db.world()
        r, err = t.try_get(path)
        rows, p = (None, err) if err else tc.check_world_list(r, want)
        after = db.world()
        if rows:
            bad, unchanged = tc.check_update_persisted(rows, before, after)
            p += bad
            unchanged_total += unchanged
        res.check(path, p, f"{want} rows written and read back")
    # A correct server leaves a row unchanged only when its new random number equals
    # the old one (1 in 10,000 per row, ~1,500 rows here, Poisson mean 0.15): more
    # than 3 is a lost write (chance for a correct server ~2e-5); a server that loses
    # one row per answer loses 10.
    res.check("/updates wrote new values", [f"{len(unchanged_total)} returned rows still hold their old value: "
                                            f"ids {unchanged_total[:10]}"] if len(unchanged_total) > 3 else [],
              f"{len(unchanged_total)} of the rows kept their old value (by chance: new random = old)")


CONNECTIONS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               f"AND backend_type = 'client backend' AND application_name <> '{tc.Psql.TESTER}'")


def case_pool(res, t, db, pool, n):
    world = db.world()
    # While the requests are in flight, count the server's database sessions (every
    # client backend but this program's psql sessions).
    watcher = PsqlSession(db)
    counts, done = [], threading.Event()

    def watch():
        # As many looks as fit in the burst (a fast server answers 1000 in tens of
        # milliseconds), and one after it: a pool that kept every connection shows then.
        while not done.is_set():
            counts.append(int(watcher.query(CONNECTIONS)[0][0]))
        counts.append(int(watcher.query(CONNECTIONS)[0][0]))

    w = threading.Thread(target=watch)
    w.start()
    try:
        results = get_many(t, "/db", n, 120)
    finally:
        done.set()
        w.join()
        watcher.close()
    check_batch(res, f"{n} concurrent /db over --db-pool {pool}", results, lambda r: tc.check_db(r, world))
    most = max(counts)
    res.check("pool size honoured", [f"{most} database sessions at once, pool is {pool}"] if most > pool else [],
              f"at most {most} database sessions at once over {len(counts)} looks (pool {pool})")


def answer_is(r, status, cause):
    """The status, a body naming the cause, and Server/Date/Content-Length."""
    p = tc.check_headers(r, None)
    if r.status != status or cause not in r.body:
        p.append(f"status {r.status} body {r.body[:200]!r}, want {status} and a body saying {cause.decode()!r}")
    return p


def run_script(script, verb, dbdir):
    argv = [script, verb, dbdir]
    print("$ " + " ".join(argv), flush=True)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return [] if r.returncode == 0 else [f"{' '.join(argv)} exited {r.returncode}: {r.stdout}{r.stderr}"]


class Load:
    """Requests /db from `k` threads until stopped, one after another on each, so the
    database goes down and comes back under load.  Every answer must be a valid row
    or a 503 naming the cause, each within REQUEST_TIMEOUT: never a hang, a reset or
    another status.  Counts the 200s seen after `mark()`."""

    def __init__(self, t, world, k=8):
        self.t, self.world, self.stop_flag = t, world, threading.Event()
        self.problems, self.ok, self.unavailable, self.ok_after_mark = [], 0, 0, 0
        self.marked = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(k)]
        for th in self.threads:
            th.start()

    def run(self):
        while not self.stop_flag.is_set():
            r, err = self.t.try_get("/db")
            with self.lock:
                if err:
                    self.problems.append(f"/db under load: {err}")
                elif r.status == 200 and not tc.check_db(r, self.world):
                    self.ok += 1
                    self.ok_after_mark += self.marked
                elif not answer_is(r, 503, b"database unavailable"):
                    self.unavailable += 1
                else:
                    self.problems.append(f"/db under load: status {r.status} body {r.body[:200]!r}")

    def mark(self):
        with self.lock:
            self.marked = True

    def finish(self, res):
        self.stop_flag.set()
        for th in self.threads:
            th.join(REQUEST_TIMEOUT + 5)
        alive = [th for th in self.threads if th.is_alive()]
        res.check("under load: every /db a row or a 503, none hung",
                  self.problems[:5] + ([f"{len(alive)} load threads still waiting"] if alive else []),
                  f"{self.ok} rows, {self.unavailable} 503s")
        res.check("under load: rows again once the database is back",
                  [] if self.ok_after_mark else ["no 200 from the load after the database came back"],
                  f"{self.ok_after_mark} rows after")


def case_down(res, t, db, script, dbdir, timeout_s):
    world = db.world()
    # Every pooled connection in use once, so the outage breaks live connections.
    check_batch(res, "before: 16 concurrent /db", get_many(t, "/db", 16, REQUEST_TIMEOUT),
                lambda r: tc.check_db(r, world))
    # The restart happens under load: requests are in flight as it goes down and
    # as it comes back (connections re-established, no crash, no hang).
    load = Load(t, world)
    try:
        case_down_up(res, t, db, script, dbdir, timeout_s, world, load)
    finally:
        load.finish(res)


def case_down_up(res, t, db, script, dbdir, timeout_s, world, load):
    if not res.check("database down", run_script(script, "down", dbdir)):
        return
    try:
        # Down is known at once (connection refused, or the socket gone): the answer
        # must not wait for the deadline.  A request bounded below the deadline fails
        # with a timeout if it does.
        bound = timeout_s * 0.8
        for i in range(3):
            r, err = t.try_get("/db", bound)
            res.check(f"down: /db #{i + 1}", err or answer_is(r, 503, b"database unavailable"), "503 at once")
        check_batch(res, "down: 16 concurrent /db", get_many(t, "/db", 16, bound),
                    lambda r: answer_is(r, 503, b"database unavailable"))
        for path in ("/", "/json", "/plaintext"):
            r, err = t.try_get(path)
            res.check(f"down: {path}", err or tc.check_status(r), "200")
    finally:
        up = run_script(script, "up", dbdir)
    if not res.check("database up", up):
        return
    # Wait for the condition "/db answers 200": each try a real request, bounded in
    # time (goro may hold off reconnecting for a while after a failure).
    deadline, tries, r = time.monotonic() + 30, 0, None
    while time.monotonic() < deadline:
        tries += 1
        r, err = t.try_get("/db")
        if r is not None and r.status == 200:
            break
    res.check("back: /db answers 200", [] if r is not None and r.status == 200 else
              [f"no 200 within 30 s ({tries} tries); last {r.status if r else err}"], f"after {tries} tries")
    load.mark()
    check_batch(res, "back: 64 concurrent /db", get_many(t, "/db", 64, REQUEST_TIMEOUT),
                lambda r: tc.check_db(r, world))
    r, err = t.try_get("/queries?queries=20")
    res.check("back: /queries?queries=20", err or tc.check_world_list(r, 20, world)[1])
    r, err = t.try_get("/fortunes")
    res.check("back: /fortunes", err or tc.check_fortunes(r, db.fortunes()))
    # The load's own requests must also see rows again: wait for one (bounded).
    deadline = time.monotonic() + 30
    while not load.ok_after_mark and time.monotonic() < deadline:
        r, err = t.try_get("/")  # a real request as the pause: never a sleep


WAITING = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
           "AND pid NOT IN ({locker}, pg_backend_pid())")


def until_all_ok(res, name, t, k, check, seconds=30):
    """Rounds of k concurrent /db until one round passes check entirely, bounded in
    time: with a short --db-timeout, opening a connection on a loaded machine may miss
    the deadline once; a connection left broken fails every round."""
    deadline, rounds = time.monotonic() + seconds, 0
    while True:
        rounds += 1
        results = get_many(t, "/db", k, REQUEST_TIMEOUT)
        bad = [r for r in results if isinstance(r, str) or check(r)]
        if not bad or time.monotonic() >= deadline:
            return check_batch(res, f"{name} (round {rounds})", results, check)


def case_deadline(res, t, db, timeout_s, pool):
    world = db.world()
    # Fill the pool first, so the requests below wait on the lock, not on connecting.
    until_all_ok(res, f"before: {pool} concurrent /db", t, pool, lambda r: tc.check_db(r, world))
    locker = PsqlSession(db)
    watcher = PsqlSession(db)
    try:
        rows = locker.query("BEGIN; LOCK TABLE world IN ACCESS EXCLUSIVE MODE; SELECT pg_backend_pid();")
        pid = int(rows[-1][0])
        held = watcher.query(f"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                             f"WHERE c.relname = 'world' AND l.mode = 'AccessExclusiveLock' AND l.granted "
                             f"AND l.pid = {pid}")
        if not res.check("world locked", [] if held == [("1",)] else [f"pg_locks shows {held}"], f"by backend {pid}"):
            return
        # Three /db in flight; meanwhile watch for goro's queries queued on the lock.
        out = []
        sender = threading.Thread(target=lambda: out.extend(get_many(t, "/db", 3, 10 * timeout_s)))
        sender.start()
        seen = set()
        while sender.is_alive():
            seen |= {int(p) for (p,) in watcher.query(WAITING.format(locker=pid))}
            sender.join(0)  # no wait: each round is one watcher query
        check_batch(res, f"locked: 3 concurrent /db over --db-timeout {timeout_s}s", out,
                    lambda r: answer_is(r, 504, b"database timeout"))
        res.check("the server's queries waited on the lock", [] if seen else
                  ["no backend was seen waiting on the lock while the requests were in flight"],
                  f"backends {sorted(seen)}")
        # Cancelled means PostgreSQL stopped waiting for them: no waiter left.
        deadline, left = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            left = watcher.query(WAITING.format(locker=pid))
            if not left:
                break
        res.check("the timed-out queries are cancelled", [f"still waiting on the lock 10 s later: {left}"] if left else [],
                  "no backend waits on the lock")
        locker.query("ROLLBACK")  # answered once the lock is released (closing psql would not wait)
    finally:
        locker.close()
        watcher.close()
    # Every pooled connection usable again (a cancelled one reset, or replaced).
    until_all_ok(res, f"released: {pool} concurrent /db", t, pool, lambda r: tc.check_db(r, world))


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--binary", help="server binary to start (goro, or the Go peer with --kind go)")
    where.add_argument("--url", help="check a server already running here (endpoints case only)")
    ap.add_argument("--kind", choices=("goro", "go"), default="goro", help="flags the binary takes")
    ap.add_argument("--mode", help="goro --mode")
    ap.add_argument("--poller", help="goro --poller (goroutine mode)")
    ap.add_argument("--server-arg", action="append", default=[], help="one more argument for the server")
    ap.add_argument("--conninfo-file", required=True, help="file whose first line is the libpq conninfo")
    ap.add_argument("--case", choices=("endpoints", "pool", "down", "deadline"), default="endpoints")
    ap.add_argument("--only", action="append", choices=GROUPS, help="endpoints case: only these endpoints")
    ap.add_argument("--requests", type=int, default=1000, help="pool case: /db requests in flight at once")
    ap.add_argument("--db-script", default=os.path.join(REPO, "scripts", "db"),
                    help="down case: run as `SCRIPT down DIR` and `SCRIPT up DIR`")
    ap.add_argument("--db-dir", help="down case: the DIR for --db-script (default: the conninfo file's directory)")
    a = ap.parse_args()

    try:
        if not shutil.which("psql"):
            raise Skip("psql is not installed (Debian package postgresql-client; scripts/setup installs it)")
        try:
            with open(a.conninfo_file) as f:
                conninfo = f.readline().strip()
        except OSError as e:
            raise Skip(f"no conninfo: {e} (the CTest fixture db runs scripts/db start)") from None
        if not conninfo:
            raise Skip(f"{a.conninfo_file} is empty")
        if a.case != "endpoints" and (a.url or a.kind != "goro"):
            raise Skip(f"--case {a.case} starts goro with its own flags: it needs --binary and --kind goro")
        if a.case == "down" and not os.access(a.db_script, os.X_OK):
            raise Skip(f"no database script at {a.db_script}")
        db = tc.Psql(conninfo)
        try:
            db.query("SELECT 1")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            raise Skip(f"the database does not answer: {e}") from None
    except Skip as e:
        print(f"SKIPPED: {e}", flush=True)
        return SKIP

    pool = 8 if a.case == "pool" else 4
    timeout_s = {"deadline": 0.3, "down": 5.0}.get(a.case)
    server = None
    if a.url:
        u = urlsplit(a.url)
        t = Target(u.hostname, u.port or 80)
    else:
        if a.kind == "goro":
            argv = [a.binary, "--bind", "127.0.0.1", "--port", "0", "--log-level", "info", "--db", conninfo,
                    "--db-pool", str(pool)]
            argv += [f"--mode={a.mode}"] if a.mode else []
            argv += [f"--poller={a.poller}"] if a.poller else []
            argv += ["--db-timeout", f"{int(timeout_s * 1000)}ms"] if timeout_s else []
        else:
            argv = [a.binary, "--port", "0", "--db", conninfo, "--db-pool", str(pool)]
        server = ServerProcess(argv + a.server_arg)
        if server.port is None:
            log = server.text()
            server.stop()
            if "io_uring is unavailable" in log:
                print("SKIPPED: the kernel refuses io_uring:\n" + log)
                return SKIP
            print("FAIL: the server did not report its port; its log:\n" + log)
            return 1
        print(next((l for l in server.text().splitlines() if "listening on" in l), ""), flush=True)
        t = Target("127.0.0.1", server.port)

    res = Results()
    try:
        if a.case == "endpoints":
            case_endpoints(res, t, db, a.only or GROUPS)
        elif a.case == "pool":
            case_pool(res, t, db, pool, a.requests)
        elif a.case == "down":
            case_down(res, t, db, a.db_script, a.db_dir or os.path.dirname(os.path.abspath(a.conninfo_file)),
                      timeout_s)
        else:
            case_deadline(res, t, db, timeout_s, pool)
    finally:
        if server:
            code = server.stop()
            res.check("SIGTERM: exit 0", [] if code == 0 else [f"exit code {code}"], "exit 0")
            if res.failed:
                print("the end of the server's log:\n" + "".join(server.text().splitlines(True)[-30:]))
    print(f"\n{len(res.failed)} failed" + (f": {', '.join(res.failed)}" if res.failed else ""))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
