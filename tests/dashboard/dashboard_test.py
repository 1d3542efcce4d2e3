#!/usr/bin/env python3
"""tests/dashboard/dashboard_test.py — CTest's dashboard.*: the live dashboard
(/debug/, server/src/dashboard.html) of the real goro binary, loaded in headless
Chromium (Debian's `chromium`, driven over the DevTools pipe: cdp.py) while a
load loop runs against the server, one server mode per CTest entry.

    ctest --test-dir build -L dashboard --output-on-failure
    python3 tests/dashboard/dashboard_test.py --goro build/goro --mode thread

What it checks, from the page's DOM (each chart's data-last/min/max/points, the
dump's data-groups/total), one sample at a time as the page takes them:

- /debug redirects to /debug/, which is text/html and names no URL with a
  scheme (nothing fetched from elsewhere); the browser asks nothing of any
  other origin;
- the header shows the mode; the goroutine and per-P run-queue charts are shown
  in goroutine mode (one line per P: --procs 2) and hidden in the others;
- idle, then under load (HELLO keep-alive connections looping GET /, SLEEPERS
  looping GET /sleep), the charts move: requests/s rises from the page's own
  polls to at least MIN_LOADED_RPS, active connections and (thread mode) OS
  threads by the load's count; goroutines rise (goroutine mode: one per request
  being served, idle keep-alive connections have none) and the dump has some in
  "sleep"; RSS and OS threads are non-zero;
- after the load stops, requests/s falls below a tenth of its peak and the
  connections below the loaded count again: the numbers are live, not frozen.

No chromium: exit 77 (CTest: Skipped) with the reason.  Every wait is for the
page's next sample, bounded by one overall deadline (generous: an ASan goro on
a busy 2-core machine).
"""

import argparse
import http.client
import json
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "support"))
sys.path.insert(0, str(HERE))
from cdp import Browser, CdpError, deadline  # noqa: E402
from server_process import ServerProcess  # noqa: E402

SKIP = 77
HELLO = 16               # connections looping GET /
SLEEPERS = 8             # connections looping GET /sleep?ms=SLEEP_MS
SLEEP_MS = 50
PROCS = 2                # goroutine mode's --procs: the run-queue chart's lines
MIN_LOADED_RPS = 50      # the page's own polls make about 2/s
DEADLINE = 240           # seconds for the whole test; CTest's TIMEOUT is above it
LOAD_LIMIT = 180         # seconds a load connection runs at most, if never stopped

# The page's state as the test reads it: only data attributes and text.
STATE_JS = """JSON.stringify({
  mode: document.getElementById("mode").dataset.mode,
  status: document.getElementById("status").dataset.state,
  samples: Number(document.body.dataset.samples || 0),
  series: Object.fromEntries([...document.querySelectorAll("[data-series]")].map(e => [e.dataset.series, {
    hidden: e.hidden, points: Number(e.dataset.points), last: Number(e.dataset.last), min: Number(e.dataset.min),
    max: Number(e.dataset.max), procs: Number(e.dataset.procs || 0)}])),
  dump: {groups: Number(document.getElementById("dump").dataset.groups),
         total: Number(document.getElementById("dump").dataset.total),
         note: document.getElementById("dump-note").textContent,
         reasons: Object.fromEntries([...document.querySelectorAll("#dump-rows tr")].map(
           r => [r.dataset.reason, Number(r.dataset.count)]))}})"""


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print(f"ok      {what}", flush=True)


class Load:
    """HELLO + SLEEPERS keep-alive connections, each a thread looping one
    request until stop() (or LOAD_LIMIT s)."""

    def __init__(self, port):
        self.port = port
        self.stopping = threading.Event()
        self.responses = 0
        self.errors = []
        self.lock = threading.Lock()
        targets = ["/"] * HELLO + [f"/sleep?ms={SLEEP_MS}"] * SLEEPERS
        self.threads = [threading.Thread(target=self._loop, args=(t,), daemon=True) for t in targets]
        for t in self.threads:
            t.start()

    def _loop(self, target):
        left = deadline(LOAD_LIMIT)
        while not self.stopping.is_set() and left() > 0:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                while not self.stopping.is_set() and left() > 0:
                    conn.request("GET", target)
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        raise OSError(f"GET {target}: {r.status}")
                    with self.lock:
                        self.responses += 1
                conn.close()
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors.append(f"{target}: {e}")
                return

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)


def summary(st):
    s = st["series"]
    parts = [f"{k}={v['last']:.0f}" for k, v in s.items() if not v["hidden"] and v["points"]]
    return f"sample {st['samples']} [{st['status']}] " + " ".join(parts) + f" dump={st['dump']['reasons']}"


def next_sample(page, left):
    try:
        st = page.wait_event("dash-sample", STATE_JS, timeout=max(1.0, left()))
    except CdpError as e:
        raise Failed(f"no sample from the page before the deadline: {e}")
    st = json.loads(st)
    for v in st["series"].values():  # a missing figure (null) satisfies no comparison
        for k in ("last", "min", "max"):
            if v[k] is None:
                v[k] = float("nan")
    print("        " + summary(st), flush=True)
    return st


def wait_for(page, what, cond, left, load=None):
    """The first sample for which cond holds; Failed at the deadline, or at
    once if the load (when given) got an error."""
    st = None
    while left() > 0:
        st = next_sample(page, left)
        if load:
            print(f"        load: {load.responses} responses", flush=True)
            if load.errors:
                raise Failed(f"the load got errors: {load.errors[:3]}")
        if cond(st):
            print(f"ok      {what}", flush=True)
            return st
    raise Failed(f"timed out waiting for {what}; last: {summary(st) if st else 'no sample'}")


def check_http(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/debug")
    r = c.getresponse()
    r.read()
    check(r.status == 301 and r.getheader("Location") == "/debug/", f"GET /debug: 301 to /debug/ (got {r.status})")
    c.request("GET", "/debug/")
    r = c.getresponse()
    page = r.read().decode()
    ctype = r.getheader("Content-Type") or ""
    check(r.status == 200 and ctype.startswith("text/html"), f"GET /debug/: 200 text/html (got {r.status} {ctype})")
    check("<script" in page and "://" not in page, "the page is inline and names no URL with a scheme")
    c.close()


def run(goro, mode, extra):
    argv = [goro, f"--mode={mode}", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"]
    if mode == "goroutine":
        argv += ["--procs", str(PROCS)]
    server = ServerProcess(argv + extra)
    if server.port is None:
        raise Failed(f"the server did not start:\n{server.text()}")
    origin = f"http://127.0.0.1:{server.port}/"
    browser = load = None
    try:
        check_http(server.port)
        left = deadline(DEADLINE)
        browser = Browser()
        page = browser.open(origin + "debug/")

        # Idle: three samples, so requests/s (a difference) has two.
        idle = wait_for(page, "three samples from the idle server", lambda st: st["samples"] >= 3, left)
        s = idle["series"]
        check(idle["mode"] == mode, f"the page shows mode {mode} (shows {idle['mode']!r})")
        check(s["rps"]["last"] > 0, f"requests/s non-zero from the page's own polls ({s['rps']['last']:.1f})")
        check(s["threads"]["last"] > 0 and s["rss"]["last"] > 0,
              f"OS threads and RSS non-zero ({s['threads']['last']:.0f}, {s['rss']['last']:.0f} B)")
        goroutines = mode == "goroutine"
        check(s["goroutines"]["hidden"] != goroutines and s["runq"]["hidden"] != goroutines,
              f"goroutine and run-queue charts {'shown' if goroutines else 'hidden'}")
        if goroutines:
            check(s["runq"]["procs"] == PROCS, f"the run-queue chart has one line per P ({s['runq']['procs']})")
            check(idle["dump"]["total"] > 0, f"the dump lists goroutines ({idle['dump']['reasons']})")
        else:
            check(idle["dump"]["total"] == 0 and "no goroutines" in idle["dump"]["note"],
                  f"the dump says there are no goroutines ({idle['dump']['note']!r})")

        # Loaded: every chart that follows the load moves by its size, from
        # the idle window's least (a connection of check_http's may linger).
        conns = HELLO + SLEEPERS
        base = {k: v["min"] for k, v in s.items() if not v["hidden"]}
        load = Load(server.port)

        def loaded(st):
            x = st["series"]
            return (x["rps"]["last"] >= MIN_LOADED_RPS and x["connections"]["last"] >= base["connections"] + conns
                    and (not goroutines or (x["goroutines"]["last"] > base["goroutines"]
                                            and st["dump"]["reasons"].get("sleep", 0) > 0))
                    and (mode != "thread" or x["threads"]["last"] >= base["threads"] + conns))

        busy = wait_for(page, f"the charts follow the load ({conns} connections, >= {MIN_LOADED_RPS} req/s)",
                        loaded, left, load)
        peak = busy["series"]["rps"]["last"]
        load.stop()
        check(load.responses > 0 and not load.errors,
              f"the load got {load.responses} responses, {len(load.errors)} errors {load.errors[:3]}")
        load = None

        def idle_again(st):
            x = st["series"]
            return x["rps"]["last"] < peak / 10 and x["connections"]["last"] < base["connections"] + conns

        after = wait_for(page, f"requests/s falls below a tenth of {peak:.0f} and the connections below the load's",
                         idle_again, left)
        for name, v in after["series"].items():
            if not v["hidden"]:
                check(v["points"] > idle["series"][name]["points"], f"{name}: points grew "
                      f"({idle['series'][name]['points']} -> {v['points']})")
        moved = ["rps", "connections"] + (["goroutines"] if goroutines else []) + (["threads"] if mode == "thread" else [])
        for name in moved:
            v = after["series"][name]
            check(v["max"] > v["min"], f"{name}: the window's min {v['min']:.0f} < max {v['max']:.0f}")

        urls = [e["params"]["request"]["url"] for e in browser.events()
                if e.get("method") == "Network.requestWillBeSent"]
        elsewhere = [u for u in urls if not u.startswith(origin)]
        check(urls and not elsewhere, f"the browser fetched only from {origin} ({len(urls)} requests; "
              f"elsewhere: {elsewhere[:3]})")
    except Failed:
        if browser:
            print("chromium's stderr (tail):\n" + "".join(browser.stderr)[-2000:], flush=True)
        print("server log (tail):\n" + server.text()[-2000:], flush=True)
        raise
    finally:
        if load:
            load.stop()
        if browser:
            browser.close()
        code = server.stop()
    check(code == 0, f"the server exits 0 on SIGTERM (got {code})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--goro", required=True)
    ap.add_argument("--mode", required=True, choices=["goroutine", "thread", "pool"])
    ap.add_argument("extra", nargs="*", help="more goro flags, after --")
    a = ap.parse_args()
    if not Browser.find():
        print("SKIPPED: no chromium on PATH (Debian: apt-get install chromium; or set GORO_CHROMIUM)", flush=True)
        return SKIP
    try:
        run(a.goro, a.mode, a.extra)
    except Failed as e:
        print(f"FAIL    {e}", flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
