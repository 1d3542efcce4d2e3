"""tests/db/tfb_checks.py — TechEmpower's verification rules for the six test types,
written as checks that return their problems, plus the two clients they need: a raw
HTTP/1.1 client (so Content-Length is compared with the bytes actually sent) and psql
(so answers are compared with what the database holds).

The rules follow TechEmpower's "Framework Tests Overview" and its verifier, made
stricter where the spec is exact: the JSON objects must be exactly the named keys,
the plaintext body exactly "Hello, World!", every response must carry Content-Length
(TechEmpower also accepts chunked framing), and the rows must be the database's rows.
"""

import datetime
import html.parser
import json
import os
import re
import socket
import subprocess
import time

ADDED_FORTUNE = "Additional fortune added at request time."
MAX_QUERIES = 500

# (query string, rows expected): TechEmpower's clamp cases and the ones the issue adds.
QUERY_CASES = [
    ("", 1),  # no parameter at all
    ("?queries=foo", 1),
    ("?queries=", 1),
    ("?queries=0", 1),
    ("?queries=-5", 1),
    ("?queries=1", 1),
    ("?queries=20", 20),
    ("?queries=500", 500),
    ("?queries=501", 500),
    ("?queries=100000", 500),
]

CONTENT_TYPES = {
    "json": re.compile(r"application/json(; ?charset=utf-8)?", re.I),
    "plaintext": re.compile(r"text/plain(; ?charset=utf-8)?", re.I),
    "html": re.compile(r"text/html; ?charset=utf-8", re.I),
}


# ---------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, headers, body, raw_length, chunked):
        self.received = time.time()  # for the Date check: answers may be checked later
        self.status = status
        self.headers = headers  # [(name lower-cased, value)] in order
        self.body = body  # bytes, de-chunked when the response was chunked
        self.raw_length = raw_length  # bytes after the header block as sent
        self.chunked = chunked

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[0] if len(vals) == 1 else None

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def text(self):
        return self.body.decode("utf-8", errors="replace")


def request_bytes(host, port, path):
    # Connection: close: the body is everything up to EOF, so a Content-Length
    # that disagrees with the bytes sent shows (keep-alive would hide extra bytes).
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()


def parse_response(data):
    """A whole Connection: close response as received; raises ValueError when malformed."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no end of the header block in {len(data)} bytes: {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", lines[0])
    if not m:
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"bad header line {line!r}")
        headers.append((name.strip().lower(), value.strip()))
    chunked = any(k == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    body = dechunk(rest) if chunked else rest
    return Response(int(m.group(1)), headers, body, len(rest), chunked)


def dechunk(data):
    out, pos = bytearray(), 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            return bytes(out)
        out += data[pos:pos + size]
        pos += size + 2


def fetch(host, port, path, timeout):
    """GET path; every step bounded by timeout seconds.  Raises OSError/ValueError."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(request_bytes(host, port, path))
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return parse_response(b"".join(chunks))


# ---------------------------------------------------------------------------
# PostgreSQL through psql


class Psql:
    """One psql per call: `query` returns rows as tuples of strings.  Its sessions
    carry application_name TESTER (unless the conninfo names one), so counting the
    server's sessions can leave them out, even one still exiting."""

    TESTER = "tfb_test"

    def __init__(self, conninfo, timeout=30, appname=TESTER):
        self.conninfo = conninfo
        self.timeout = timeout
        self.env = dict(os.environ, PGAPPNAME=appname)

    def argv(self, *extra):
        return ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo] + list(extra)

    def query(self, sql):
        r = subprocess.run(self.argv("-c", sql), capture_output=True, timeout=self.timeout, env=self.env)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed ({r.returncode}) on {sql!r}: {r.stderr.decode(errors='replace')}")
        text = r.stdout.decode("utf-8")
        return [tuple(line.split("\t")) for line in text.splitlines() if line]

    def world(self):
        return {int(i): int(n) for i, n in self.query("SELECT id, randomnumber FROM world")}

    def fortunes(self):
        return [(int(i), m) for i, m in self.query("SELECT id, message FROM fortune")]


# ---------------------------------------------------------------------------
# Checks: each returns a list of problems (strings); empty means it passed.


def check_headers(r, kind):
    """Server, Date (IMF-fixdate, current), Content-Type of `kind` (None: any),
    and Content-Length equal to the body sent."""
    p = []
    if not r.header("server"):
        p.append("no (or more than one) Server header")
    date = r.header("date")
    if not date:
        p.append("no (or more than one) Date header")
    else:
        try:
            when = datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=datetime.timezone.utc)
            # A Date cached at start-up, or in another zone, is off by more than the
            # second a server may cache it for (plus slack for a loaded machine).
            skew = abs(when.timestamp() - r.received)
            if skew > 5:
                p.append(f"Date {date!r} is {skew:.0f} s away from the current time")
        except ValueError:
            p.append(f"Date {date!r} is not an IMF-fixdate (e.g. 'Sun, 06 Nov 1994 08:49:37 GMT')")
    ctype = r.header("content-type")
    if kind is not None and (ctype is None or not CONTENT_TYPES[kind].fullmatch(ctype)):
        p.append(f"Content-Type {ctype!r} does not match {CONTENT_TYPES[kind].pattern!r}")
    length = r.all("content-length")
    if r.chunked:
        p.append("chunked framing instead of Content-Length")
    elif len(length) != 1 or not length[0].isdigit():
        p.append(f"want exactly one Content-Length, got {length}")
    elif int(length[0]) != r.raw_length:
        p.append(f"Content-Length {length[0]} but {r.raw_length} body bytes were sent")
    return p


def check_status(r, want=200):
    if r.status != want:
        return [f"status {r.status}, want {want}; body {r.body[:200]!r}"]
    return []


def parse_json(r):
    """(value, problems): the body as JSON, strictly UTF-8."""
    try:
        return json.loads(r.body.decode("utf-8")), []
    except (UnicodeDecodeError, ValueError) as e:
        return None, [f"body is not JSON ({e}): {r.body[:200]!r}"]


def check_json(r):
    p = check_status(r) + check_headers(r, "json")
    v, bad = parse_json(r)
    p += bad
    if not bad and v != {"message": "Hello, World!"}:
        p.append(f'want exactly {{"message": "Hello, World!"}}, got {v!r}')
    return p


def check_plaintext(r):
    p = check_status(r) + check_headers(r, "plaintext")
    if r.body != b"Hello, World!":
        p.append(f"want body b'Hello, World!', got {r.body[:200]!r}")
    return p


def is_int(v):
    return type(v) is int  # not bool, not a float, not a numeric string


def check_world_object(o, world=None):
    """{"id": 1..10000, "randomNumber": 1..10000}; when `world` (id -> number) is
    given, the pair must be that row of the database."""
    if not isinstance(o, dict):
        return [f"want a JSON object, got {o!r}"]
    if set(o) != {"id", "randomNumber"}:
        return [f"want exactly the keys id and randomNumber, got {sorted(o)}"]
    p = []
    for k in ("id", "randomNumber"):
        if not is_int(o[k]) or not 1 <= o[k] <= 10000:
            p.append(f"{k} {o[k]!r} is not an integer in 1..10000")
    if not p and world is not None and world.get(o["id"]) != o["randomNumber"]:
        p.append(f"row {o} but the database holds randomNumber {world.get(o['id'])} for id {o['id']}")
    return p


def check_world_list(r, want_len, world=None):
    """(objects or None, problems): a JSON array of want_len world objects."""
    p = check_status(r) + check_headers(r, "json")
    v, bad = parse_json(r)
    p += bad
    if bad:
        return None, p
    if not isinstance(v, list):
        return None, p + [f"want a JSON array, got {str(v)[:100]}"]
    if len(v) != want_len:
        p.append(f"array of {len(v)} objects, want {want_len}")
    bad_rows = [(i, e) for i, o in enumerate(v) for e in check_world_object(o, world)]
    p += [f"element {i}: {e}" for i, e in bad_rows[:5]]
    if len(bad_rows) > 5:
        p.append(f"... and {len(bad_rows) - 5} more bad elements")
    return (v if not bad_rows else None), p


def check_db(r, world=None):
    p = check_status(r) + check_headers(r, "json")
    v, bad = parse_json(r)
    return p + (bad or check_world_object(v, world))


def check_update_persisted(rows, before, after):
    """The rows an /updates answer returned against the whole table before and after.

    - every returned pair is what the database now holds; an id returned more than
      once may have been written more than once in one statement (a bulk UPDATE ...
      FROM VALUES keeps one of the candidate rows, unspecified which), so there the
      database must hold one of the values returned for it;
    - no row outside the answer changed;
    - the rows were really written: a server that returns fresh random numbers
      without persisting them, or persists the old ones, leaves them unchanged.
      A new random number equals the old one with probability 1/10000, so for
      one row that is a (rare) legitimate outcome: the caller decides how many
      unchanged rows to tolerate; `unchanged` is returned for that.
    """
    p = []
    returned = {}
    for o in rows:
        returned.setdefault(o["id"], []).append(o["randomNumber"])
    for i, vals in sorted(returned.items()):
        if after.get(i) not in vals:
            what = vals[0] if len(vals) == 1 else f"one of {vals}"
            p.append(f"id {i}: answered randomNumber {what}, the database holds {after.get(i)}")
    stray = sorted(i for i in after if after[i] != before.get(i) and i not in returned)
    if stray:
        p.append(f"{len(stray)} rows not in the answer changed, e.g. ids {stray[:5]}")
    if len(after) != len(before):
        p.append(f"world had {len(before)} rows, now {len(after)}")
    unchanged = sorted(i for i in returned if after.get(i) == before.get(i))
    return p[:10], unchanged


class FortuneTable(html.parser.HTMLParser):
    """Collects the document's structure: doctype, title, table rows of (cell tag, text),
    and any element found inside a cell (an unescaped '<' in a message makes one)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.doctype = None
        self.title = None
        self.tables = 0
        self.rows = []
        self.cell = None  # [tag, text] while inside <td>/<th>
        self.in_title = False
        self.nested = []

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        if self.cell is not None:
            self.nested.append(tag)
        elif tag == "table":
            self.tables += 1
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = [tag, ""]
            if not self.rows:
                self.rows.append([])
        elif tag == "title":
            self.in_title = True
            self.title = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.cell[0] == tag:
            self.rows[-1].append(tuple(self.cell))
            self.cell = None
        elif tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data
        elif self.in_title:
            self.title += data


def expected_fortunes(db_rows):
    """The table the spec asks for: the database's rows plus the one added at request
    time, sorted by message (code point order, i.e. the order of the UTF-8 bytes)."""
    return sorted(db_rows + [(0, ADDED_FORTUNE)], key=lambda row: row[1])


def check_fortunes(r, db_rows):
    p = check_status(r) + check_headers(r, "html")
    try:
        text = r.body.decode("utf-8")
    except UnicodeDecodeError as e:
        return p + [f"body is not UTF-8: {e}"]
    t = FortuneTable()
    t.feed(text)
    t.close()
    if (t.doctype or "").lower() != "doctype html":
        p.append(f"doctype {t.doctype!r}, want 'DOCTYPE html'")
    if t.title != "Fortunes":
        p.append(f"title {t.title!r}, want 'Fortunes'")
    if t.tables != 1:
        p.append(f"{t.tables} tables, want 1")
    if t.nested:
        p.append(f"elements inside table cells (an unescaped message?): {t.nested[:5]}")
    # '<' in a message must reach the browser as text: no script element at all.
    if re.search(rb"<\s*script", r.body, re.I):
        p.append("the body contains a <script> tag: a message was not HTML-escaped")
    want = [[("th", "id"), ("th", "message")]] + [[("td", str(i)), ("td", m)] for i, m in expected_fortunes(db_rows)]
    if t.rows != want:
        got = [[c[1] for c in row] for row in t.rows]
        exp = [[c[1] for c in row] for row in want]
        diff = [f"row {k}: got {g!r}, want {e!r}" for k, (g, e) in enumerate(zip(got, exp)) if g != e]
        if len(got) != len(exp):
            diff.append(f"{len(got)} rows (with the header), want {len(exp)}")
        p += diff[:8]
    # UTF-8 intact: non-ASCII text travels as its UTF-8 bytes, not as character references.
    for i, m in db_rows:
        if not m.isascii() and m.encode("utf-8") not in r.body:
            p.append(f"fortune {i}'s message {m!r} is not in the body as UTF-8")
    return p

