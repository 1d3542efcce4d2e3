#!/usr/bin/env python3
"""db.scripts: scripts/db against its interface (docs: the script's header).

On the fixture's cluster (read-only, since other tests share it): start is
idempotent, the schema, data and settings are TechEmpower's, the socket and
TCP conninfos both work and both need the password.  On a private cluster in
a mode-700 directory (as root: one the postgres user cannot reach, so it lives
under /tmp): down stops it and keeps the data, up brings it back on the same
conninfo, stop removes it all.  Exit 77 (skipped) when psql or the fixture is
missing.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

# TechEmpower's 12 rows, written as escapes so this list does not share its
# bytes with the SQL in scripts/db.
FORTUNES = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
]

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


# psql sees only the conninfo it is given: the caller's PG* variables are not
# part of what is tested.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
ENV["PGCLIENTENCODING"] = "UTF8"


def psql(conninfo, sql):
    """(returncode, stdout bytes, stderr text) of one unaligned, tuples-only query."""
    p = subprocess.run(["psql", conninfo, "-X", "-A", "-t", "-q", "-F", "\x1f",
                        "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, env=ENV, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def rows(conninfo, sql):
    rc, out, err = psql(conninfo, sql)
    if rc != 0:
        check(False, f"query {sql}: {err.strip()}")
        return []
    return [line.split(b"\x1f") for line in out.splitlines()]


def db(script, cmd, d):
    """(returncode, last stdout line) of scripts/db CMD D."""
    p = subprocess.run([script, cmd, d], capture_output=True, text=True, timeout=180)
    if p.returncode not in (0, 3, 4):
        sys.stderr.write(p.stderr)
    lines = p.stdout.strip().splitlines()
    return p.returncode, lines[-1] if lines else ""


def check_contents(c):
    r = rows(c, "SELECT count(*), count(DISTINCT id), min(id), max(id), min(randomnumber),"
                " max(randomnumber), count(DISTINCT randomnumber) FROM world")
    if r:
        n, ids, lo, hi, rlo, rhi, distinct = map(int, r[0])
        check((n, ids, lo, hi) == (10000, 10000, 1, 10000), f"world ids are 1..10000 once each: {r[0]}")
        check(1 <= rlo and rhi <= 10000, f"world randomnumber within 1..10000: {rlo}..{rhi}")
        check(distinct > 5000, f"world randomnumber is random, not one value: {distinct} distinct")
    got = [(int(i), m) for i, m in rows(c, "SELECT id, message FROM fortune ORDER BY id")]
    want = [(i, m.encode()) for i, m in FORTUNES]
    check(got == want, "fortune holds exactly TechEmpower's 12 rows, byte for byte"
          + ("" if got == want else f": missing {set(want) - set(got)}, extra {set(got) - set(want)}"))
    cols = rows(c, "SELECT table_name, column_name, data_type, coalesce(character_maximum_length, 0),"
                   " is_nullable FROM information_schema.columns WHERE table_schema = 'public'"
                   " ORDER BY table_name, ordinal_position")
    check(cols == [[b"fortune", b"id", b"integer", b"0", b"NO"],
                   [b"fortune", b"message", b"character varying", b"2048", b"NO"],
                   [b"world", b"id", b"integer", b"0", b"NO"],
                   [b"world", b"randomnumber", b"integer", b"0", b"NO"]],
          f"world(id, randomnumber) and fortune(id, message varchar(2048)), not null: {cols}")
    pks = rows(c, "SELECT conrelid::regclass, pg_get_constraintdef(oid) FROM pg_constraint"
                  " WHERE contype = 'p' AND connamespace = 'public'::regnamespace ORDER BY conrelid::regclass::text")
    check(pks == [[b"fortune", b"PRIMARY KEY (id)"], [b"world", b"PRIMARY KEY (id)"]],
          f"id is each table's primary key: {pks}")
    rc, _, err = psql(c, "BEGIN; UPDATE world SET randomnumber = randomnumber WHERE id = 1; ROLLBACK")
    check(rc == 0, "benchmarkdbuser may update world (/updates)" + (f": {err.strip()}" if rc else ""))
    s = rows(c, "SELECT current_setting('fsync'), current_setting('synchronous_commit'),"
                " current_setting('full_page_writes'), current_setting('max_connections'),"
                " current_setting('server_encoding')")
    check(s == [[b"off", b"off", b"off", b"400", b"UTF8"]],
          f"fsync, synchronous_commit, full_page_writes off; max_connections 400; UTF8: {s}")


def check_connections(c, tcp):
    check(rows(c, "SELECT inet_server_addr() IS NULL") == [[b"t"]], "DIR/conninfo goes through the Unix socket")
    check(rows(tcp, "SELECT inet_server_addr()") == [[b"127.0.0.1"]], "DIR/conninfo.tcp goes through 127.0.0.1")
    for name, ci in (("socket", c), ("TCP", tcp)):
        rc, _, err = psql(ci.replace("password=benchmarkdbpass", "password=wrong"), "SELECT 1")
        check(rc != 0 and "password authentication failed" in err,
              f"a wrong password is refused on the {name}: {err.strip()}")


def check_private_cluster(script, scratch):
    # mkdtemp makes the directory mode 700: as root, out of the postgres user's reach.
    top = tempfile.mkdtemp(prefix="db-scripts-", dir=scratch)
    d = os.path.join(top, "db")
    try:
        rc, c = db(script, "start", d)
        if not check(rc == 0 and c.startswith("host="), f"start {d}: {rc} {c!r}"):
            return
        home = os.path.join(d, "home")
        if os.geteuid() == 0:
            h = open(home).read().strip() if os.path.exists(home) else ""
            check(h.startswith("/tmp/") and os.path.isdir(h) and f"host={h}/socket " in c,
                  f"as root under a 700 directory, the cluster lives in DIR/home under /tmp: {h!r}, {c!r}")
        else:
            check(not os.path.exists(home), "as a normal user the cluster lives in DIR itself")
        check(db(script, "start", d) == (0, c), "a second start answers the same conninfo")
        check(rows(c, "UPDATE world SET randomnumber = 4242 WHERE id = 1 RETURNING id") == [[b"1"]],
              "an update before down")
        tcp = open(os.path.join(d, "conninfo.tcp")).read().strip()

        check(db(script, "down", d)[0] == 0, "down")
        check(db(script, "status", d)[0] == 3, "status after down: 3 (stopped)")
        check(psql(c, "SELECT 1")[0] != 0, "the socket conninfo fails while down")
        check(psql(tcp, "SELECT 1")[0] != 0, "the TCP conninfo fails while down")
        check(db(script, "down", d)[0] == 0, "down again: nothing to do, exit 0")

        check(db(script, "up", d) == (0, c), "up answers the same conninfo (same port, same socket)")
        check(db(script, "status", d)[0] == 0, "status after up: 0 (running)")
        check(rows(c, "SELECT randomnumber FROM world WHERE id = 1") == [[b"4242"]],
              "the data survived down and up")
        check(rows(tcp, "SELECT count(*) FROM fortune") == [[b"12"]], "TCP works again after up")

        check(db(script, "stop", d)[0] == 0, "stop")
        check(db(script, "status", d)[0] == 4, "status after stop: 4 (no cluster)")
        check(not os.path.exists(d), f"stop removed {d}")
        if os.geteuid() == 0:
            check(not os.path.exists(h), f"stop removed the cluster's home {h}")
        check(psql(tcp, "SELECT 1")[0] != 0, "the TCP conninfo fails after stop")
        check(db(script, "stop", d)[0] == 0, "stop again: nothing to do, exit 0")
        check(db(script, "up", d)[0] != 0, "up with no cluster fails (start creates, up does not)")
    finally:
        subprocess.run([script, "stop", d], capture_output=True, timeout=180)
        shutil.rmtree(top, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True, help="scripts/db")
    ap.add_argument("--dir", required=True, help="the db fixture's DIR")
    ap.add_argument("--scratch", required=True, help="where to make a private cluster")
    a = ap.parse_args()
    if not shutil.which("psql"):
        print("SKIP: psql not found (apt-get install postgresql-client, or scripts/setup)")
        return SKIP
    try:
        c = open(os.path.join(a.dir, "conninfo")).read().strip()
        tcp = open(os.path.join(a.dir, "conninfo.tcp")).read().strip()
    except OSError as e:
        print(f"SKIP: the db fixture did not start (see db.start): {e}")
        return SKIP

    check(db(a.script, "start", a.dir) == (0, c), "start on a running cluster exits 0 with the same conninfo")
    check(db(a.script, "status", a.dir)[0] == 0, "status of the fixture: 0 (running)")
    check_contents(c)
    check_connections(c, tcp)
    check_private_cluster(a.script, a.scratch)

    if failures:
        print(f"{len(failures)} check(s) failed:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
