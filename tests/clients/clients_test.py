#!/usr/bin/env python3
"""tests/clients/clients_test.py — CTest's clients.*: the real goro binary driven by
real third-party HTTP clients from Debian, one server mode per CTest entry.

    ctest --test-dir build -R clients --output-on-failure
    python3 tests/clients/clients_test.py --goro build/goro --mode pool -- --threads=2

What it checks, each from the client's own report (counts parsed from its output,
not only its exit status):

- `ab -k` (apache2-utils; HTTP/1.0 with `Connection: keep-alive`): every request
  complete, none failed, every one kept alive, no non-2xx answer;
- `h2load --h1 -m 16` (nghttp2-client; 16 requests pipelined per connection): every
  request succeeded, every status 2xx;
- `curl`: an HTTP/1.0 request (its answer, the response's version, no chunked
  framing for a 1.0 client) and HTTP/1.0 keep-alive (the second request reuses the
  connection); a chunked upload to POST /echo echoed byte for byte; `Expect:
  100-continue` on a large body (curl saw the 100, the body came back whole); a
  /static download identical to the file (a temporary --root).

Then SIGTERM: the server must exit 0.

A client that is not installed is a visible skip: its checks are reported as
skipped, the others still run, and the process exits 77 (CTest: Skipped) unless
a check failed (then 1).  So does a goroutine-mode run with --poller=uring on a
kernel that refuses io_uring.  GORO_CLIENTS_REQUESTS sets ab's and h2load's
request count (default 20000) for slow builds; the checks stay exact.
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
from server_process import ServerProcess  # noqa: E402

SKIP = 77
HELLO = b"Hello, World!\n"
CLIENT_TIMEOUT = 240  # seconds: bounds a hung client only; CTest's timeout bounds the whole


def start_server(goro, mode, root, extra):
    """The goro binary on 127.0.0.1, --port 0 (tests/support/server_process.py)."""
    return ServerProcess([goro, f"--mode={mode}", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
                          "--root", str(root)] + extra)


class Results:
    def __init__(self):
        self.failed = []
        self.skipped = []

    def ok(self, name, detail):
        print(f"ok      {name}: {detail}", flush=True)

    def fail(self, name, detail, output=""):
        print(f"FAIL    {name}: {detail}", flush=True)
        if output:
            print("  | " + output.rstrip().replace("\n", "\n  | "), flush=True)
        self.failed.append(name)

    def skip(self, name, why):
        print(f"SKIPPED {name}: {why}", flush=True)
        self.skipped.append(name)


def run(argv, **kw):
    """Runs a client; returns (exit code, stdout, stderr) as text (bytes kept where asked)."""
    print("$ " + " ".join(argv), flush=True)
    r = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT, **kw)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def field(text, label):
    """The integer after `label:` at the start of a line in ab's report, or None."""
    m = re.search(rf"^{re.escape(label)}:\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def check_ab(res, base, n, conns):
    name = f"ab -k -n {n} -c {conns}"
    # -r: a receive error is counted in "Failed requests" instead of ending the run,
    # so a failure shows as numbers.
    code, out, err = run(["ab", "-k", "-r", "-n", str(n), "-c", str(conns), f"{base}/"])
    complete, failed = field(out, "Complete requests"), field(out, "Failed requests")
    keep_alive = field(out, "Keep-Alive requests")
    non2xx = field(out, "Non-2xx responses") or 0  # ab prints the line only when some were
    write_errors = field(out, "Write errors") or 0  # likewise
    doc_len = field(out, "Document Length")
    got = (f"complete {complete}, failed {failed}, keep-alive {keep_alive}, non-2xx {non2xx}, "
           f"write errors {write_errors}, document length {doc_len}")
    if (code != 0 or complete != n or failed != 0 or keep_alive != n or non2xx != 0 or write_errors != 0
            or doc_len != len(HELLO)):
        res.fail(name, f"want {n} complete, 0 failed, {n} keep-alive, 0 non-2xx, length {len(HELLO)}; "
                       f"got {got} (exit {code})", out + err)
    else:
        res.ok(name, got)


def check_h2load(res, base, n, conns, pipeline, static_name):
    name = f"h2load --h1 -n {n} -c {conns} -m {pipeline}"
    # Two targets, taken in turn: a short answer and a file, pipelined.
    code, out, err = run(["h2load", "--h1", "-n", str(n), "-c", str(conns), "-m", str(pipeline),
                          f"{base}/", f"{base}/static/{static_name}"])
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", out, re.M)
    st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    if not req or not st:
        res.fail(name, f"no request/status summary in h2load's output (exit {code})", out + err)
        return
    total, _, done, ok, failed, errored, timeout = map(int, req.groups())
    s2xx, s3xx, s4xx, s5xx = map(int, st.groups())
    got = (f"{total} total, {done} done, {ok} succeeded, {failed} failed, {errored} errored, {timeout} timeout; "
           f"status {s2xx} 2xx, {s3xx} 3xx, {s4xx} 4xx, {s5xx} 5xx")
    if code != 0 or total != n or done != n or ok != n or failed or errored or timeout or s2xx != n:
        res.fail(name, f"want {n} succeeded of {n}, {n} 2xx; got {got} (exit {code})", out + err)
    else:
        res.ok(name, got)


def curl(args, out_file):
    """curl -v: (exit code, the -w output, the verbose trace, response headers)."""
    hdr = str(out_file) + ".headers"
    code, wout, trace = run(["curl", "-sS", "-v", "--max-time", "60", "-D", hdr, "-o", str(out_file)] + args)
    headers = Path(hdr).read_text(errors="replace") if Path(hdr).exists() else ""
    return code, wout, trace, headers


def judge(res, name, problems, log, ok_detail):
    """One verdict for a curl check: its problems, or what went right."""
    if problems:
        res.fail(name, "; ".join(problems), log)
    else:
        res.ok(name, ok_detail)


def check_http10(res, base, tmp):
    name = "curl --http1.0"
    out = tmp / "http10.out"
    code, w, trace, headers = curl(["--http1.0", "-w", "%{http_code} %{http_version}", f"{base}/"], out)
    body = out.read_bytes() if out.exists() else b""
    status, version = (w.split() + ["", ""])[:2]
    problems = []
    if code != 0:
        problems.append(f"curl exited {code}")
    if "> GET / HTTP/1.0" not in trace:
        problems.append("curl did not send an HTTP/1.0 request line")
    if status != "200" or body != HELLO:
        problems.append(f"want 200 {HELLO!r}, got {status} {body[:80]!r}")
    # RFC 9110 §6.2: the server answers with its own 1.x version (goro: 1.1).
    if version not in ("1.0", "1.1"):
        problems.append(f"response version {version!r}, want HTTP/1.x")
    # RFC 9112 §6.1: no Transfer-Encoding to a 1.0 client; the length is given.
    if re.search(r"^transfer-encoding:", headers, re.I | re.M):
        problems.append("Transfer-Encoding in a response to HTTP/1.0")
    if not re.search(rf"^content-length:\s*{len(HELLO)}\s*$", headers, re.I | re.M):
        problems.append("no Content-Length of the body")
    judge(res, name, problems, headers + trace, f"HTTP/1.0 request: {status}, response HTTP/{version}, body {len(body)} bytes, Content-Length")

    # HTTP/1.0 keep-alive: the response says so and curl reuses the connection.
    name = "curl --http1.0 keep-alive"
    out = tmp / "http10ka.out"
    out2 = tmp / "http10ka2.out"
    code, w, trace, headers = curl(["--http1.0", "-H", "Connection: keep-alive", "-w", "%{num_connects}\\n",
                                    f"{base}/", "-o", str(out2), f"{base}/"], out)
    connects = w.split()
    bodies = [f.read_bytes() if f.exists() else b"" for f in (out, out2)]
    problems = []
    if code != 0:
        problems.append(f"curl exited {code}")
    if not re.search(r"^connection:\s*keep-alive\s*$", headers, re.I | re.M):
        problems.append("no `Connection: keep-alive` in the response")
    if bodies != [HELLO, HELLO]:
        problems.append(f"bodies {bodies}, want {HELLO!r} twice")
    if connects != ["1", "0"]:
        problems.append(f"new connections per request {connects}, want ['1', '0'] (the second reused)")
    judge(res, name, problems, headers + trace, "`Connection: keep-alive` answered, second request on the same connection")


def check_chunked_upload(res, base, tmp, data):
    name = f"curl chunked upload ({len(data)} bytes) to /echo"
    src, out = tmp / "chunked.in", tmp / "chunked.out"
    src.write_bytes(data)
    # `Expect:` (empty) stops curl adding 100-continue: this is the plain chunked case.
    code, w, trace, headers = curl(["-H", "Transfer-Encoding: chunked", "-H", "Expect:", "-H",
                                    "Content-Type: application/octet-stream", "--data-binary", f"@{src}",
                                    "-w", "%{http_code}", f"{base}/echo"], out)
    body = out.read_bytes() if out.exists() else b""
    problems = []
    if code != 0:
        problems.append(f"curl exited {code}")
    if not re.search(r"^> Transfer-Encoding: chunked", trace, re.M | re.I):
        problems.append("curl did not send a chunked body")
    if re.search(r"^> Content-Length:", trace, re.M | re.I):
        problems.append("curl sent Content-Length too")
    if w != "200":
        problems.append(f"status {w}, want 200")
    if body != data:
        problems.append(f"echoed {len(body)} bytes, {'a prefix' if data.startswith(body) else 'different'} "
                        f"(sent {len(data)})")
    judge(res, name, problems, headers + trace, f"200, {len(body)} bytes echoed byte-exact")


def check_expect_continue(res, base, tmp, data):
    name = f"curl Expect: 100-continue ({len(data)} bytes)"
    src, out = tmp / "expect.in", tmp / "expect.out"
    src.write_bytes(data)
    # curl waits this long for the 100 before sending the body anyway: far longer
    # than the server needs, so the body goes because the 100 came.
    code, w, trace, headers = curl(["-H", "Expect: 100-continue", "--expect100-timeout", "30",
                                    "--data-binary", f"@{src}", "-w", "%{http_code}", f"{base}/echo"], out)
    body = out.read_bytes() if out.exists() else b""
    problems = []
    if code != 0:
        problems.append(f"curl exited {code}")
    if not re.search(r"^> Expect: 100-continue", trace, re.M | re.I):
        problems.append("curl did not send Expect: 100-continue")
    if not re.search(r"^< HTTP/1\.1 100 Continue", trace, re.M):
        problems.append("curl saw no 100 Continue")
    if w != "200":
        problems.append(f"status {w}, want 200")
    if body != data:
        problems.append(f"echoed {len(body)} bytes, want the {len(data)} sent")
    judge(res, name, problems, headers + trace, f"100 Continue seen, then 200 with {len(body)} bytes echoed byte-exact")


def check_static(res, base, tmp, fname, data):
    name = f"curl /static/{fname} ({len(data)} bytes)"
    out = tmp / "static.out"
    code, w, trace, headers = curl(["-w", "%{http_code}", f"{base}/static/{fname}"], out)
    body = out.read_bytes() if out.exists() else b""
    problems = []
    if code != 0:
        problems.append(f"curl exited {code}")
    if w != "200":
        problems.append(f"status {w}, want 200")
    if body != data:
        problems.append(f"downloaded {len(body)} bytes, not the file's {len(data)} as they are")
    judge(res, name, problems, headers + trace, f"200, {len(body)} bytes identical to the file")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--goro", required=True, help="the goro binary")
    ap.add_argument("--mode", required=True, choices=["goroutine", "thread", "pool"])
    ap.add_argument("server_args", nargs="*", help="more flags for goro (after --)")
    a = ap.parse_args()

    n = int(os.environ.get("GORO_CLIENTS_REQUESTS", "20000"))
    if not Path(a.goro).is_file():
        print(f"FAIL: goro binary {a.goro} not found")
        return 1
    res = Results()
    have = {tool: shutil.which(tool) is not None for tool in ("ab", "h2load", "curl")}
    packages = {"ab": "apache2-utils", "h2load": "nghttp2-client", "curl": "curl"}

    rng = random.Random(10)  # fixed: a failure reproduces with the same bytes
    with tempfile.TemporaryDirectory(prefix="goro-clients-") as d:
        tmp = Path(d)
        root = tmp / "root"
        root.mkdir()
        # Bigger than the server's 64 KiB file chunk and than a socket buffer.
        blob = rng.randbytes(1_500_000 + 77)
        (root / "blob.bin").write_bytes(blob)
        small = rng.randbytes(3000)
        (root / "small.bin").write_bytes(small)

        server = start_server(a.goro, a.mode, root, a.server_args)
        try:
            if server.port is None:
                log = server.text()
                if "--poller=uring: io_uring is unavailable" in log:
                    print("SKIPPED: the kernel refuses io_uring, so goroutine mode on io_uring cannot run here:\n"
                          + log)
                    return SKIP
                print("FAIL: goro did not report its port; its log:\n" + log)
                return 1
            started = next((l for l in server.text().splitlines() if "listening on" in l), "")
            print(started, flush=True)  # the mode and its detail (poller, threads)
            base = f"http://127.0.0.1:{server.port}"

            if have["ab"]:
                check_ab(res, base, n, 100)
            else:
                res.skip("ab -k", "`ab` not installed (Debian package apache2-utils; scripts/setup installs it)")
            if have["h2load"]:
                check_h2load(res, base, n, 10, 16, "small.bin")
            else:
                res.skip("h2load --h1", "`h2load` not installed (Debian package nghttp2-client; "
                                        "scripts/setup installs it)")
            if have["curl"]:
                check_http10(res, base, tmp)
                # Binary bytes, CR and LF included: nothing may be taken for framing.
                check_chunked_upload(res, base, tmp, rng.randbytes(300_001) + b"\r\n0\r\n\r\n")
                check_expect_continue(res, base, tmp, rng.randbytes(900_000))  # under --max-body-bytes (1 MiB)
                check_static(res, base, tmp, "blob.bin", blob)
            else:
                res.skip("curl", "`curl` not installed (Debian package curl; scripts/setup installs it)")

            code = server.stop()
            if code != 0:
                res.fail("SIGTERM", f"goro exited {code}, want 0", server.text())
            else:
                res.ok("SIGTERM", "goro exited 0")
        finally:
            server.kill()

    missing = [packages[t] for t, ok in have.items() if not ok]
    if res.failed:
        print(f"FAILED: {', '.join(res.failed)}")
        return 1
    if res.skipped:
        print(f"SKIPPED: {', '.join(res.skipped)} (missing: {' '.join(missing)}); every check that ran passed")
        return SKIP
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
