#!/usr/bin/env python3
"""loadtest/quick_test.py — CTest's loadtest.quick: the harness end to end, small.

    ctest -R loadtest.quick --output-on-failure
    python3 loadtest/quick_test.py --compare loadtest/compare --goro build/goro --out /tmp/q

What it shows: `loadtest/compare --quick` starts the servers, drives them with wrk
and writes a report that is well-formed — the expected sections and table headers,
at least one chart that is a real PNG and is linked from the report; the server
CPU per request table has a row with figures for every goro mode, the floor and
(when installed) nginx, and every row of "Targets (issue #11)" and "Targets
(issue #12)" has a verdict word; unless the report notes that PostgreSQL could
not start, the single-query table has a row with the database's CPU for every
goro mode and Go; the fan-out table has a row with req/s and the
upstream's CPU for every goro mode and Go. It does not judge the numbers: they belong to the machine. Exits 77 (CTest: skipped) with the
reason when wrk, gnuplot or the goro binary is missing.
"""

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

SKIP = 77
# The modes `compare --quick` runs when no --modes is given (its DEFAULT_MODES).
MODES_RUN = ("goroutine", "goroutine-1p", "thread", "pool")
# Systems that must have a server-CPU-per-request row: every goro mode, and the
# floor peer, which compare builds itself (nginx is checked when installed).
CPU_ROWS = MODES_RUN + ("floor",)
# What a well-formed report has, whatever the machine measured.
REQUIRED = [
    "## Headline",
    "| scenario | conns |",
    "## hello (GET /)",
    "| conns | system | req/s |",
    "## pipelined (GET /, 16 requests per write)",
    "## Server CPU per request",
    "| system | depth 1 @ 50 | depth 1 @ 5,000 | depth 16 @ 50 | depth 16 @ 5,000 |",
    "| system | p99 @ 50 | p99 @ 5,000 |",
    "## Targets (issue #11)",
    "## Targets (issue #12)",
    "| target | point | measured | verdict |",
    "Pinning: off",
    "## Idle connections",
    "| system | answered |",
    "## The claims, measured",
    "| # | claim | what this machine showed | verdict |",
]


def check_headline(text):
    """The server-CPU table has a row per system with µs figures at depth 1 and
    16 @ 50 (the points --quick measures); every target row has a verdict word."""
    bad = []
    systems = CPU_ROWS + (("nginx",) if shutil.which("nginx") or Path("/usr/sbin/nginx").is_file() else ())
    for s in systems:
        m = re.search(rf"^\| {re.escape(s)} \| ([^|]*) \| [^|]* \| ([^|]*) \| [^|]* \|$", text, re.M)
        if not m or not all(re.match(r"[0-9][0-9.,]* µs", x.strip()) for x in m.groups()):
            bad.append(f"a server-CPU row for {s} with µs at depth 1 and depth 16 @ 50")
    sec = text.partition("## Targets (issue #11)")[2].partition("\n## ")[0]
    verdicts = re.findall(r"^\| [^|]+ \| [^|]+ \| [^|]+ \| ([^|]+) \|$", sec, re.M)[1:]  # [0]: the header
    if len(verdicts) < 20 or any(v.strip() not in ("met", "not met", "not measured") for v in verdicts):
        bad.append(f"target rows with met / not met / not measured (got {verdicts[:3]}...)")
    return bad


def check_database(text):
    """Issue #12: every target row has a verdict word; when PostgreSQL ran, GET
    /db has a row per goro mode and Go with figures for the database's CPU."""
    bad = []
    sec = text.partition("## Targets (issue #12)")[2].partition("\n## ")[0]
    verdicts = re.findall(r"^\| [^|]+ \| [^|]+ \| [^|]+ \| ([^|]+) \|$", sec, re.M)[1:]
    if len(verdicts) < 20 or any(v.strip() not in ("met", "not met", "not measured") for v in verdicts):
        bad.append(f"issue #12 target rows with met / not met / not measured (got {verdicts[:3]}...)")
    if "database scenarios (db, queries, fortunes, updates) skipped" in text:
        print("note: PostgreSQL did not start, database scenarios skipped (the report says why)")
        return bad
    table = text.partition("## single query (GET /db)")[2].partition("\n## ")[0]
    for s in MODES_RUN + ("go",):
        # ... | DB CPU µs/req | DB cores | wrk cores |
        if not re.search(rf"^\| 256 \| {re.escape(s)} \|.*\| [0-9][0-9.,]*(?: \[[^]]*\])? "
                         rf"\| [0-9.]+(?: \[[^]]*\])? \| [0-9.]+(?: \[[^]]*\])? \|$", table, re.M):
            bad.append(f"a GET /db row for {s} with the database's CPU")
    return bad


def check_fanout(text):
    """Issue #13: the fan-out table has a row per goro mode and Go (unless the
    report notes the Go peer skipped) with req/s and the upstream's CPU."""
    bad = []
    table = text.partition("## fan-out (GET /fanout?n=10&ms=20")[2].partition("\n## ")[0]
    go = () if "Go peer skipped" in text else ("go",)
    for s in MODES_RUN + go:
        # | 100 | system | req/s | ... | upstream CPU µs/req | upstream cores | wrk cores |
        m = re.search(rf"^\| 100 \| {re.escape(s)} \| ([0-9][0-9,.]*) \|.*\| ([0-9][0-9.,]*) \| [0-9.]+ \| [0-9.]+ \|$",
                      table, re.M)
        if not m or float(m.group(1).replace(",", "")) <= 0 or float(m.group(2).replace(",", "")) <= 0:
            bad.append(f"a fan-out row for {s} with req/s and the upstream's CPU above 0")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", required=True)
    ap.add_argument("--goro", required=True)
    ap.add_argument("--tools-dir")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    for tool, pkg in (("wrk", "wrk"), ("gnuplot", "gnuplot-nox")):
        if not shutil.which(tool):
            print(f"SKIP: `{tool}` not installed (Debian package {pkg}); scripts/setup installs it")
            return SKIP
    if not Path(a.goro).is_file():
        print(f"SKIP: goro binary {a.goro} not built")
        return SKIP

    out = Path(a.out)
    if out.exists():
        shutil.rmtree(out)
    argv = [sys.executable, a.compare, "--quick", "--no-build", "--goro", a.goro, "--out", str(out)]
    if a.tools_dir:
        argv += ["--tools-dir", a.tools_dir]
    print("$ " + " ".join(argv), flush=True)
    t0 = time.monotonic()
    r = subprocess.run(argv, timeout=170)
    print(f"compare --quick took {time.monotonic() - t0:.1f} s", flush=True)
    if r.returncode != 0:
        print(f"FAIL: compare exited {r.returncode}")
        return 1

    report = out / "report.md"
    if not report.is_file():
        print(f"FAIL: no {report}")
        return 1
    text = report.read_text()
    bad = [h for h in REQUIRED if h not in text]
    # Every goro mode that ran must have its hello @ 50 row with numbers: a
    # mode that only failed would otherwise leave a well-formed report that
    # lacks it (one row of any mode used to be enough).  wrk's own CPU is
    # measured too (the ceiling check): a number above zero, in every row.
    for mode in MODES_RUN:
        m = re.search(rf"^\| 50 \| {mode} \| ([0-9][0-9,]*) .*\| ([0-9.]+)(?: \[[^]]*\])? \|$", text, re.M)
        if not m:
            bad.append(f"a hello @ 50 row with req/s and wrk cores for mode {mode}")
            continue
        if int(m.group(1).replace(",", "")) <= 0:
            bad.append(f"req/s above 0 for mode {mode} (got {m.group(1)})")
        if float(m.group(2)) <= 0:
            bad.append(f"a wrk cores figure above 0 for mode {mode} (got {m.group(2)})")
    bad += check_headline(text)
    bad += check_database(text)
    bad += check_fanout(text)
    if "| wrk cores |" not in text:
        bad.append("the wrk cores column")
    pngs = [p for p in out.glob("*.png") if p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"]
    linked = [p for p in pngs if f"]({p.name})" in text]
    if not linked:
        bad.append("at least one PNG chart linked from the report")
    if bad:
        print("FAIL: report is missing: " + "; ".join(bad))
        return 1
    print(f"ok: {report} well-formed, {len(linked)} chart(s): {', '.join(p.name for p in linked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
