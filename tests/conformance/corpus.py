"""The conformance corpus: one case per request-side requirement of RFC 9112
(HTTP/1.1 message syntax and connection handling) and the request-handling
requirements of RFC 9110 that an origin server has, plus the catalogue of known
request-smuggling vectors.

Each case is data: the bytes sent on a fresh connection, the status of every
final response expected in order (None: no response at all), and what must
happen to the connection afterwards:

  "close"   the server closes after the last expected response, and nothing
            else arrives before the EOF (no second, smuggled response);
  "keep"    the connection stays usable: a follow-up request on it is answered
            with exactly its own 404 (so no stray body or smuggled response
            sits in between);
  "either"  both are allowed, but if it stays open the follow-up is answered
            correctly.

The case's name starts with its RFC section.  Where the RFC leaves a choice
(MAY / SHOULD / "reject or ..."), `choice` states goro's and why.  `why` is
goro's reason, printed by the differential check beside a peer that differs.
`check` (goro only) looks at the responses' headers and bodies.  `lenient`
would say why goro may accept what nginx and Go both refuse; no case needs it.

Targets are chosen so every peer of the differential check can serve them:
"/" answers 200, any other path 404, POST /echo 200 (goro echoes the body).
"""

import re

H = b"Host: t\r\n"
FOLLOWUP = b"GET /__followup__ HTTP/1.1\r\nHost: t\r\n\r\n"
FOLLOWUP_STATUS = 404


class Case:
    def __init__(self, section, title, send, status, conn="close", interim=None, head=False, choice="",
                 why="", check=None, lenient=""):
        self.section = section
        self.name = f"{section} {title}"
        self.send = send if isinstance(send, list) else [send]
        self.status = status if isinstance(status, list) else ([] if status is None else [status])
        self.conn = conn
        self.interim = interim
        self.head = head
        self.choice = choice
        self.why = why
        self.check = check
        self.lenient = lenient  # why goro may accept what nginx and Go both refuse (differential)


def get(extra=b"", target=b"/", version=b"HTTP/1.1", method=b"GET"):
    return method + b" " + target + b" " + version + b"\r\n" + H + extra + b"\r\n"


def post(framing, body, target=b"/echo"):
    return b"POST " + target + b" HTTP/1.1\r\n" + H + framing + b"\r\n" + body


def chunked(body_wire):
    return post(b"Transfer-Encoding: chunked\r\n", body_wire)


# ---- checks on goro's responses (bodies and fields) -------------------------
def body_is(expected):
    def check(rs):
        if rs[-1].body != expected:
            return f"body {rs[-1].body[:60]!r}, expected {expected[:60]!r}"
    return check


def bodies_are(*expected):
    def check(rs):
        got = [r.body for r in rs]
        if got != list(expected):
            return f"bodies {got!r}, expected {list(expected)!r}"
    return check


def header_has(name, *words):
    def check(rs):
        v = ", ".join(rs[-1].header(name))
        items = [x.strip() for x in v.split(",")]
        missing = [w for w in words if w not in items]
        if missing:
            return f"{name}: {v!r} lacks {missing}"
    return check


def header_is(name, value):
    def check(rs):
        v = rs[-1].header(name)
        if v != [value]:
            return f"{name}: {v!r}, expected [{value!r}]"
    return check


def all_of(*checks):
    def check(rs):
        for c in checks:
            e = c(rs)
            if e:
                return e
    return check


MAY_LF = ("RFC 9112 §2.2 MAY accept a lone LF as a line terminator: goro declines (400) everywhere; a lone LF "
          "is how a front end and an origin come to split a message differently, and no real client sends one")
STRICT = "rejected: the RFC allows rejecting, and leniency here is how two parsers come to disagree"

CASES = [
    # ---- RFC 9112 §2: message format and parsing --------------------------
    Case("9112 §2.1", "a well-formed GET is answered and the connection kept", get(), 200, "keep",
         check=body_is(b"Hello, World!\n")),
    Case("9112 §2.2", "empty line (CRLF) before the request-line is ignored", b"\r\n" + get(), 200, "keep",
         choice="SHOULD ignore at least one empty line: goro does"),
    Case("9112 §2.2", "lone LF line terminators in the head", b"GET / HTTP/1.1\nHost: t\n\n", 400,
         choice=MAY_LF, why="the MAY of §2.2 (lone LF) is declined: strict line endings"),
    Case("9112 §2.2", "lone LF ending only the request line", b"GET / HTTP/1.1\n" + H + b"\r\n", 400,
         choice=MAY_LF, why="the MAY of §2.2 (lone LF) is declined: strict line endings"),
    Case("9112 §2.2", "lone LF ending a field line", get(b"X-A: a\nX-B: b\r\n"), 400,
         choice=MAY_LF, why="the MAY of §2.2 (lone LF) is declined: strict line endings"),
    Case("9112 §2.2", "bare CR inside the request line", b"GET /\rx HTTP/1.1\r\n" + H + b"\r\n", 400,
         choice="MUST treat the element as invalid or replace CR with SP: goro rejects", why=STRICT),
    Case("9112 §2.2", "bare CR ending the request line", b"GET / HTTP/1.1\r" + H + b"\r\n", 400,
         choice="invalid element: rejected"),
    Case("9112 §2.2", "bare CR inside a field value", get(b"X-A: a\rb\r\n"), 400,
         choice="MUST reject or replace with SP: goro rejects", why=STRICT),
    Case("9112 §2.2", "bare CR ending a field line", get(b"X-A: a\rX-B: b\r\n"), 400,
         choice="invalid element: rejected", why=STRICT),
    Case("9112 §2.2", "bare CR at the start of a field line", get(b"\rX-A: a\r\n"), 400, why=STRICT),
    Case("9112 §2.2", "whitespace before the first field line (SP)", b"GET / HTTP/1.1\r\n X-A: a\r\n" + H + b"\r\n",
         400, choice="MUST reject or ignore the whitespace-preceded line: goro rejects", why=STRICT),
    Case("9112 §2.2", "whitespace before the first field line (HTAB)", b"GET / HTTP/1.1\r\n\tHost: t\r\n" + H + b"\r\n",
         400, choice="MUST reject or ignore the line: goro rejects", why=STRICT),
    Case("9112 §2.2", "a request cut short by the client's FIN gets no response", [b"GET / HTTP/1.1\r\nHo", "shut_wr"],
         None, "close", choice="incomplete message: nothing to answer"),
    Case("9112 §2.2", "garbage instead of a request line", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
         400),

    # ---- §2.3 HTTP version ---------------------------------------------------
    Case("9112 §2.3", "HTTP/1.0 request is served and closed", b"GET / HTTP/1.0\r\n\r\n", 200, "close"),
    Case("9112 §2.3", "higher minor version HTTP/1.2 is served as HTTP/1.1", get(version=b"HTTP/1.2"), 200, "keep",
         choice="RFC 9110 §2.5 SHOULD process as the highest minor version implemented: goro does"),
    Case("9112 §2.3", "major version 2 on HTTP/1 syntax: 505", get(version=b"HTTP/2.0"), 505,
         why="RFC 9110 §15.6.6: 505 for a major version the server does not support"),
    Case("9112 §2.3", "major version 3: 505", get(version=b"HTTP/3.0"), 505),
    Case("9112 §2.3", "version without the minor (HTTP/1)", get(version=b"HTTP/1"), 400,
         why="HTTP-version is HTTP-name '/' DIGIT '.' DIGIT: not a version, a malformed request line"),
    Case("9112 §2.3", "two-digit minor (HTTP/1.10)", get(version=b"HTTP/1.10"), 400,
         why="a version is one DIGIT '.' one DIGIT: malformed, not an unsupported version"),
    Case("9112 §2.3", "two-digit major (HTTP/11.1)", get(version=b"HTTP/11.1"), 400,
         why="a version is one DIGIT '.' one DIGIT: malformed (400), not an unsupported version (505)"),
    Case("9112 §2.3", "lowercase http/1.1 (HTTP-name is case-sensitive)", get(version=b"http/1.1"), 400),
    Case("9112 §2.3", "version with trailing garbage", get(version=b"HTTP/1.1x"), 400),
    Case("9112 §2.3", "HTTP/0.9 request line without a version", b"GET /\r\n\r\n", 400,
         choice="HTTP/0.9 is not supported: the line lacks the version RFC 9112 §3 requires, 400 (505 also fits)",
         why="request-line = method SP request-target SP HTTP-version: no version, malformed"),

    # ---- §3 request line -----------------------------------------------------
    Case("9112 §3", "two spaces between method and target", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400,
         choice="MAY parse on whitespace boundaries, but the RFC warns it enables smuggling: goro rejects",
         why=STRICT),
    Case("9112 §3", "HTAB as the separator", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400, why=STRICT),
    Case("9112 §3", "trailing SP after the version", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400, why=STRICT),
    Case("9112 §3", "leading SP before the method", b" GET / HTTP/1.1\r\n" + H + b"\r\n", 400, why=STRICT),
    Case("9112 §3.1", "method with a non-token character", b"G@T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    Case("9112 §3.1", "empty method", b" / HTTP/1.1\r\n" + H + b"\r\n", 400),
    Case("9112 §3.1", "unknown method token: 501", get(method=b"FROB"), 501,
         choice="RFC 9110 §9.1 SHOULD 501 for an unrecognized method; the body's framing is then unknown, so close",
         why="RFC 9110 §9.1: an unrecognized method SHOULD get 501"),
    Case("9112 §3.1", "methods are case-sensitive: 'get' is an unknown method", get(method=b"get"), 501,
         why="'get' is a valid token but not GET (methods are case-sensitive): unrecognized, 501"),
    Case("9112 §3", "overlong request-target: 414", get(target=b"/" + b"a" * 20000), 414,
         choice="MUST 414 for a target longer than the server wishes to parse (--max-header-bytes)",
         why="RFC 9112 §3: a target longer than the server parses MUST get 414"),
    Case("9112 §3.2", "NUL in the request-target", get(target=b"/a\x00b"), 400),
    Case("9112 §3.2", "CTL (0x01) in the request-target", get(target=b"/a\x01b"), 400),
    Case("9112 §3.2", "DEL in the request-target", get(target=b"/a\x7fb"), 400),
    Case("9112 §3.2", "non-ASCII octet in the request-target", get(target=b"/caf\xc3\xa9"), 400,
         choice="not a URI character (RFC 3986): invalid request line, 400 (SHOULD 400 or 301)",
         why="a URI is ASCII (RFC 3986); an unencoded octet above 0x7F is an invalid request-target"),
    Case("9112 §3.2", "fragment in the request-target", get(target=b"/#frag"), 400,
         why="request-target has no fragment (RFC 9112 §3.2); a '#' is an invalid target"),
    Case("9112 §3.2.1", "origin-form with a query", get(target=b"/?a=1&b=%20"), 200, "keep"),
    Case("9112 §3.2.1", "a target that is none of the four forms", get(target=b"index.html"), 400,
         why="not origin-, absolute-, authority- or asterisk-form: invalid request-target"),
    Case("9112 §3.2.2", "absolute-form is accepted and routes by its path", get(target=b"http://example.com/"), 200,
         "keep", check=body_is(b"Hello, World!\n")),
    Case("9112 §3.2.2", "absolute-form: the target's authority wins over Host",
         b"GET http://example.com/ HTTP/1.1\r\nHost: other.example\r\n\r\n", 200, "keep"),
    Case("9112 §3.2.2", "absolute-form without a path routes to /", get(target=b"http://example.com"), 200, "keep",
         check=body_is(b"Hello, World!\n"),
         why="an empty path in an http URI is '/' (RFC 9110 §4.2.3): served, not redirected"),
    Case("9112 §3.2.2", "absolute-form with a scheme other than http(s)", get(target=b"ftp://example.com/"), 400,
         why="goro serves http and https URIs only; another scheme's absolute-form is an invalid target here"),
    Case("9112 §3.2.2", "absolute-form still needs Host in HTTP/1.1", b"GET http://example.com/ HTTP/1.1\r\n\r\n",
         400, why="RFC 9112 §3.2: an HTTP/1.1 request without Host MUST get 400, whatever its target"),
    Case("9112 §3.2.2", "absolute-form with userinfo is rejected", get(target=b"http://user@example.com/"), 400,
         choice="RFC 9110 §4.2.4 SHOULD treat userinfo as an error: goro does",
         why="RFC 9110 §4.2.4: userinfo in an http(s) URI SHOULD be treated as an error"),
    Case("9112 §3.2.3", "authority-form with a method other than CONNECT", get(target=b"example.com:80"), 400,
         why="authority-form is only for CONNECT (RFC 9112 §3.2.3)"),
    Case("9112 §3.2.3", "CONNECT (authority-form) is not supported: 405",
         b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405,
         choice="goro is no proxy: 405 (method known, not allowed here)",
         why="goro is not a proxy; CONNECT gets 405 and the connection closes"),
    Case("9112 §3.2.4", "asterisk-form OPTIONS * is answered", get(target=b"*", method=b"OPTIONS"), 204, "keep",
         choice="RFC 9110 §9.3.7: a server-wide OPTIONS gets 204 with Allow listing what goro implements",
         why="OPTIONS * is the server-wide OPTIONS (RFC 9110 §9.3.7); goro answers 204 with Allow",
         check=header_has("Allow", "GET", "HEAD", "POST", "OPTIONS")),
    Case("9112 §3.2.4", "asterisk-form with GET", get(target=b"*"), 400,
         why="asterisk-form is only for OPTIONS (RFC 9112 §3.2.4)"),

    # ---- §3.2 Host -------------------------------------------------------------
    Case("9112 §3.2", "HTTP/1.1 without Host: 400", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400,
         choice="MUST 400", why="RFC 9112 §3.2: MUST 400"),
    Case("9112 §3.2", "two Host fields: 400", get(b"Host: u\r\n"), 400, why="RFC 9112 §3.2: MUST 400"),
    Case("9112 §3.2", "two identical Host fields: 400", get(b"Host: t\r\n"), 400, why="RFC 9112 §3.2: MUST 400"),
    Case("9112 §3.2", "Host that is not a host (a/b)", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400,
         why="RFC 9112 §3.2: an invalid Host field value MUST get 400"),
    Case("9112 §3.2", "Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@t\r\n\r\n", 400,
         why="Host = uri-host [ ':' port ]: no userinfo; MUST 400"),
    Case("9112 §3.2", "Host with a bad port", b"GET / HTTP/1.1\r\nHost: t:8x\r\n\r\n", 400,
         why="RFC 9112 §3.2: an invalid Host field value MUST get 400"),
    Case("9112 §3.2", "empty Host is valid", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 200, "keep",
         why="RFC 9110 §7.2: a client sends an empty Host when the target URI has no authority; it is valid"),
    Case("9112 §3.2", "HTTP/1.0 may omit Host", b"GET / HTTP/1.0\r\n\r\n", 200, "close"),

    # ---- §5 field syntax ---------------------------------------------------------
    Case("9112 §5.1", "whitespace between field name and colon", get(b"X-A : a\r\n"), 400,
         choice="MUST 400", why="RFC 9112 §5.1: MUST reject with 400"),
    Case("9112 §5.1", "whitespace before the colon of Content-Length",
         post(b"Content-Length : 5\r\n", b"hello"), 400, why="RFC 9112 §5.1: MUST reject with 400"),
    Case("9112 §5.1", "HTAB before the colon", get(b"X-A\t: a\r\n"), 400, why="RFC 9112 §5.1: MUST reject with 400"),
    Case("9112 §5", "field line without a colon", get(b"X-A a\r\n"), 400),
    Case("9112 §5", "empty field name", get(b": a\r\n"), 400,
         why="field-name is a token, at least one character (RFC 9110 §5.1): an invalid field line"),
    Case("9112 §5", "non-token character in a field name", get(b"X-[A]: a\r\n"), 400,
         why="field-name is a token (RFC 9110 §5.1): '[' makes the field line invalid"),
    Case("9112 §5", "NUL in a field name", get(b"X-\x00A: a\r\n"), 400,
         why="field-name is a token (RFC 9110 §5.1)"),
    Case("9112 §5", "non-ASCII octet in a field name", get(b"X-\xc3\xa9: a\r\n"), 400,
         why="field-name is a token (RFC 9110 §5.1): an octet above 0x7F makes it invalid"),
    Case("9112 §5.1", "OWS (SP) around a field value is not part of it", post(b"Content-Length:  5  \r\n", b"hello"),
         200, "keep", check=body_is(b"hello")),
    Case("9112 §5.1", "HTAB before a field value is OWS", post(b"Content-Length:\t 5\r\n", b"hello"), 200, "keep",
         check=body_is(b"hello"), why="OWS = *( SP / HTAB ) (RFC 9110 §5.6.3): a tab before the value is allowed"),
    Case("9112 §5.1", "HTAB after a Content-Length value", post(b"Content-Length: 5\t\r\n", b"hello"), 400,
         choice="DEVIATION (left alone): trailing OWS may be HTAB, but llhttp 8.1 refuses a tab after a "
                "Content-Length value; stricter, so no smuggling risk",
         why="llhttp 8.1 refuses HTAB after a Content-Length value (stricter than §5.1)"),
    Case("9112 §5.2", "obs-fold in a request header", get(b"X-A: a\r\n b\r\n"), 400,
         choice="MUST 400 or replace with SP: goro rejects (preferred by the RFC for requests)",
         why="RFC 9112 §5.2: obs-fold MUST be rejected (400) or replaced by SP; goro rejects"),
    Case("9112 §5.2", "obs-fold continuing Transfer-Encoding",
         b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n ,chunked\r\n\r\n0\r\n\r\n", 400,
         why="obs-fold: rejected; here it would hide 'chunked' from a parser that drops the fold"),
    Case("9110 §5.5", "NUL in a field value", get(b"X-A: a\x00b\r\n"), 400,
         choice="MUST reject or replace NUL with SP: goro rejects",
         why="RFC 9110 §5.5: NUL MUST be rejected or replaced; goro rejects"),
    Case("9110 §5.5", "CTL (0x01) in a field value", get(b"X-A: a\x01b\r\n"), 400,
         why="a CTL other than HTAB is not a field-vchar: invalid field"),
    Case("9110 §5.5", "DEL in a field value", get(b"X-A: a\x7fb\r\n"), 400,
         why="DEL is not a field-vchar: invalid field"),
    Case("9110 §5.5", "VT before a Transfer-Encoding value", post(b"Transfer-Encoding: \x0bchunked\r\n",
                                                                   b"0\r\n\r\n"), 400,
         why="VT is not OWS; rejecting it keeps 'chunked' from meaning two things"),
    Case("9110 §5.5", "HTAB inside a field value is allowed", get(b"X-A: a\tb\r\n"), 200, "keep"),
    Case("9110 §5.5", "obs-text (0x80-0xFF) in a field value is allowed", get(b"X-A: caf\xc3\xa9\r\n"), 200, "keep"),
    Case("9112 §5", "header block over --max-header-bytes: 431", get(b"X-Big: " + b"a" * 20000 + b"\r\n"), 431,
         choice="RFC 6585 431 for a header section too large",
         why="RFC 6585: 431 when the header fields are too large"),

    # ---- §6 message body: Transfer-Encoding ---------------------------------
    Case("9112 §6.1", "chunked is decoded", chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 200, "keep",
         check=body_is(b"hello world")),
    Case("9112 §6.1", "transfer-coding names are case-insensitive", post(b"Transfer-Encoding: ChUnKeD\r\n",
                                                                          b"2\r\nhi\r\n0\r\n\r\n"), 200, "keep",
         check=body_is(b"hi")),
    Case("9112 §6.1", "chunked not the final coding: 400", post(b"Transfer-Encoding: chunked, gzip\r\n",
                                                                  b"0\r\n\r\n"), 400,
         choice="MUST 400 and close", why="RFC 9112 §6.3: chunked not last → MUST 400 and close"),
    Case("9112 §6.1", "a coding without chunked: 400", post(b"Transfer-Encoding: gzip\r\n", b""), 400,
         why="RFC 9112 §6.3: chunked not last → MUST 400 and close"),
    Case("9112 §6.1", "chunked twice: 400", post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400,
         why="RFC 9112 §6.1: chunked MUST NOT be applied more than once; faulty framing"),
    Case("9112 §6.1", "chunked twice on two lines: 400",
         post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400,
         why="RFC 9112 §6.1: chunked MUST NOT be applied more than once; faulty framing"),
    Case("9112 §6.1", "chunked then another coding on a second line: 400",
         post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", b"0\r\n\r\n"), 400,
         why="RFC 9112 §6.3: chunked not last → MUST 400"),
    Case("9112 §6.1", "unimplemented coding before chunked: 501",
         post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501,
         choice="SHOULD 501 for a coding it does not understand, and close (the body cannot be decoded)",
         why="RFC 9112 §6.1: a coding the server does not understand SHOULD get 501"),
    Case("9112 §6.1", "quoted \"chunked\" is not chunked: 400", post(b"Transfer-Encoding: \"chunked\"\r\n",
                                                                      b"0\r\n\r\n"), 400,
         why="a quoted string is not the token chunked: chunked is not last → 400"),
    Case("9112 §6.1", "empty list element in Transfer-Encoding: 400", post(b"Transfer-Encoding: , chunked\r\n",
                                                                            b"0\r\n\r\n"), 400,
         choice="deliberately stricter than RFC 9110 §5.6.1 (empty list elements are to be ignored): "
                "nginx and Go reject it too, and a peer that does not read it as chunked would desync",
         why="stricter than §5.6.1 on purpose: an empty element in the framing header is refused"),
    Case("9112 §6.3", "empty Transfer-Encoding: 400", post(b"Transfer-Encoding: \r\n", b""), 400,
         why="a Transfer-Encoding whose final coding is not chunked: MUST 400 (an empty one is no exception)"),
    Case("9112 §6.3", "empty Transfer-Encoding beside a Content-Length: 400",
         post(b"Content-Length: 5\r\nTransfer-Encoding: \r\n", b"hello"), 400,
         why="a TE field next to a Content-Length is the smuggling shape §6.3 closes, even when empty"),
    Case("9112 §6.1", "Transfer-Encoding in HTTP/1.0: faulty framing, 400",
         b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400,
         choice="MUST treat the framing as faulty and close: goro answers 400",
         why="RFC 9112 §6.1: TE in an HTTP/1.0 message MUST be treated as faulty framing"),
    Case("9112 §6.1", "CL and TE together: 400 and close",
         post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"),
         400, choice="MAY reject or decode as chunked, MUST close: goro rejects",
         why="RFC 9112 §6.1: MAY reject or use TE, MUST close; goro rejects"),
    Case("9112 §6.1", "TE then CL (order reversed): 400 and close",
         post(b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", b"5\r\nhello\r\n0\r\n\r\n"), 400,
         why="RFC 9112 §6.1: MAY reject or use TE, MUST close; goro rejects"),

    # ---- §6.2 / §6.3 Content-Length -----------------------------------------------
    Case("9112 §6.2", "Content-Length body is read exactly; the next request follows",
         post(b"Content-Length: 5\r\n", b"hello") + get(), [200, 200], "keep",
         check=bodies_are(b"hello", b"Hello, World!\n")),
    Case("9112 §6.2", "a GET's Content-Length body is read, not parsed as a request",
         get(b"Content-Length: 35\r\n") + b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n", 200, "keep",
         why="the body is framed by Content-Length whatever the method (RFC 9112 §6.3)"),
    Case("9112 §6.2", "requests pipelined after a chunked body are answered",
         chunked(b"2\r\nhi\r\n0\r\n\r\n") + get(), [200, 200], "keep",
         check=bodies_are(b"hi", b"Hello, World!\n")),
    Case("9112 §6.2", "Content-Length with leading zeros", post(b"Content-Length: 005\r\n", b"hello"), 200, "keep",
         check=body_is(b"hello")),
    Case("9112 §6.2", "Content-Length: 0", post(b"Content-Length: 0\r\n", b""), 200, "keep", check=body_is(b"")),
    Case("9112 §6.3", "Content-Length with a sign (+5)", post(b"Content-Length: +5\r\n", b"hello"), 400,
         why="RFC 9112 §6.3: an invalid Content-Length MUST get 400 and close"),
    Case("9112 §6.3", "Content-Length negative (-5)", post(b"Content-Length: -5\r\n", b"hello"), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "Content-Length in hex (0x5)", post(b"Content-Length: 0x5\r\n", b"hello"), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "Content-Length not a number", post(b"Content-Length: abc\r\n", b""), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "Content-Length empty", post(b"Content-Length:\r\n", b""), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "Content-Length with inner space (1 0)", post(b"Content-Length: 1 0\r\n", b"0123456789"), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "Content-Length overflowing 64 bits", post(b"Content-Length: 18446744073709551621\r\n",
                                                                  b"hello"), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400 (an overflow must not wrap to 5)"),
    Case("9112 §6.3", "Content-Length list of equal values (5, 5)", post(b"Content-Length: 5, 5\r\n", b"hello"), 400,
         choice="RFC 9110 §8.6 MAY accept a list of identical values: goro rejects (nginx does too)",
         why="RFC 9110 §8.6 MAY accept '5, 5'; goro rejects, as a front end might not"),
    Case("9112 §6.3", "Content-Length list of different values (5, 6)", post(b"Content-Length: 5, 6\r\n",
                                                                              b"hello!"), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "two Content-Length fields, different", post(b"Content-Length: 5\r\nContent-Length: 6\r\n",
                                                                    b"hello!"), 400,
         why="RFC 9112 §6.3: invalid Content-Length → MUST 400"),
    Case("9112 §6.3", "two Content-Length fields, equal", post(b"Content-Length: 5\r\nContent-Length: 5\r\n",
                                                                b"hello"), 400,
         choice="RFC 9110 §8.6 MAY accept duplicates of one value: goro rejects",
         why="MAY accept equal duplicates; goro rejects them like any repeated framing field"),
    Case("9112 §6.3", "POST without Content-Length or TE has an empty body",
         b"POST /echo HTTP/1.1\r\n" + H + b"\r\n", 200, "keep", check=body_is(b""),
         choice="RFC 9112 §6.3 rule 7: length zero (a 411 would be allowed too): goro serves it"),
    Case("9112 §6.3", "Content-Length body cut short by the client's FIN gets no response",
         [post(b"Content-Length: 10\r\n", b"hello"), "shut_wr"], None, "close",
         choice="RFC 9112 §8: an incomplete message is not answered as if complete"),
    Case("9112 §6.3", "body over --max-body-bytes by Content-Length: 413 before the body",
         post(b"Content-Length: 2000000000\r\n", b""), 413,
         why="RFC 9110 §15.5.14: 413 when the content is larger than the server is willing to process"),

    # ---- §7 chunked transfer coding --------------------------------------------------
    Case("9112 §7.1", "uppercase hex and leading zeros in chunk-size",
         chunked(b"00A\r\n0123456789\r\n0\r\n\r\n"), 200, "keep", check=body_is(b"0123456789")),
    Case("9112 §7.1", "chunk-size with an underscore (0_2e)", chunked(b"0_2e\r\n" + b"a" * 46 + b"\r\n0\r\n\r\n"), 400,
         why="chunk-size is 1*HEXDIG: anything else is invalid framing"),
    Case("9112 §7.1", "chunk-size with 0x prefix", chunked(b"0x3\r\nabc\r\n0\r\n\r\n"), 400,
         why="chunk-size is 1*HEXDIG: invalid framing"),
    Case("9112 §7.1", "chunk-size with a leading +", chunked(b"+3\r\nabc\r\n0\r\n\r\n"), 400,
         why="chunk-size is 1*HEXDIG: invalid framing"),
    Case("9112 §7.1", "chunk-size with a leading -", chunked(b"-3\r\nabc\r\n0\r\n\r\n"), 400,
         why="chunk-size is 1*HEXDIG: invalid framing"),
    Case("9112 §7.1", "chunk-size with a leading space", chunked(b" 3\r\nabc\r\n0\r\n\r\n"), 400,
         why="chunk-size is 1*HEXDIG: invalid framing"),
    Case("9112 §7.1", "chunk-size followed by spaces without an extension", chunked(b"3  \r\nabc\r\n0\r\n\r\n"), 400,
         choice="BWS is allowed only before ';' of an extension; '3  CRLF' is invalid: rejected",
         why="chunk = chunk-size [ chunk-ext ] CRLF: spaces without ';' are not part of the grammar"),
    Case("9112 §7.1", "empty chunk-size line", chunked(b"\r\nabc\r\n0\r\n\r\n"), 400,
         why="chunk-size is 1*HEXDIG: an empty one is invalid framing"),
    Case("9112 §7.1", "chunk-size overflowing 64 bits", chunked(b"10000000000000003\r\nabc\r\n0\r\n\r\n"), 400,
         why="an overflowing chunk-size must not wrap: invalid framing"),
    Case("9112 §7.1", "chunk-size over --max-body-bytes: 413 before the data", chunked(b"fffffff\r\n"), 413,
         choice="answered as soon as the size is read, not after 256 MiB",
         why="RFC 9110 §15.5.14: content larger than the server will process → 413"),
    Case("9112 §7.1", "chunk data longer than its size", chunked(b"3\r\nabcdef\r\n0\r\n\r\n"), 400,
         why="chunk data must be followed by CRLF: invalid framing"),
    Case("9112 §7.1", "chunk data not followed by CRLF at the end", chunked(b"3\r\nabc0\r\n\r\n"), 400,
         why="chunk data must be followed by CRLF: invalid framing"),
    Case("9112 §7.1", "bare CR after chunk-size", chunked(b"3\rabc\r\n0\r\n\r\n"), 400,
         why="RFC 9112 §2.2: bare CR is invalid"),
    Case("9112 §7.1", "bare LF after chunk-size", chunked(b"3\nabc\r\n0\r\n\r\n"), 400,
         choice="RFC 9112 §2.2 MAY accept a lone LF; in chunk framing goro refuses it: framing leniency is "
                "what smuggling exploits, and no real client sends it",
         why="lone LF in chunk framing is refused (the MAY of §2.2 is declined where framing is decided)"),
    Case("9112 §7.1", "bare LF after chunk data", chunked(b"3\r\nabc\n0\r\n\r\n"), 400,
         why="lone LF in chunk framing is refused"),
    Case("9112 §7.1", "bare LF ending the last chunk", chunked(b"3\r\nabc\r\n0\n\r\n"), 400,
         why="lone LF in chunk framing is refused"),
    Case("9112 §7.1", "a chunk line of 8000 bytes (leading zeros)", chunked(b"0" * 8000 + b"1\r\nx\r\n0\r\n\r\n"), 400,
         choice="a chunk line is at most 4 KiB: nothing else bounds one, and a client could stream it forever",
         why="a chunk line over 4 KiB is refused (a resource limit; the grammar has none)"),
    Case("9112 §7.1.1", "a chunk extension of 8000 bytes", chunked(b"1;x=" + b"a" * 8000 + b"\r\nx\r\n0\r\n\r\n"), 400,
         why="a chunk line over 4 KiB is refused (a resource limit; extensions are otherwise ignored)"),
    Case("9112 §7.1.1", "chunk lines out of proportion to the data", chunked(b"1;x=aaaaaaaaaaaaaaaaaaaa\r\nx\r\n" * 1000 +
                                                                             b"0\r\n\r\n"), 400,
         choice="chunk-line bytes may exceed 16 KiB + twice the data bytes only so far: 1,000 chunks of one byte "
                "with 20-byte extensions are refused",
         why="chunk framing over 16 KiB + twice the data is refused (a resource limit)"),
    Case("9112 §7.1", "many small chunks within the proportion are decoded", chunked(b"a\r\n0123456789\r\n" * 500 +
                                                                                     b"0\r\n\r\n"),
         200, "keep", check=body_is(b"0123456789" * 500)),
    Case("9112 §7.1", "missing last-chunk, client FIN: no response",
         [chunked(b"3\r\nabc\r\n"), "shut_wr"], None, "close"),
    Case("9112 §7.1", "smuggled request right after the last-chunk without the final CRLF",
         chunked(b"0\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"), 400,
         why="'GET /smuggled HTTP/1.1' is read as a trailer line and is not a field: 400, nothing smuggled"),
    Case("9112 §7.1.1", "chunk extensions are ignored", chunked(b"5;a=b\r\nhello\r\n1;c\r\n!\r\n0;x=\"q s\"\r\n\r\n"),
         200, "keep", check=body_is(b"hello!")),
    Case("9112 §7.1.1", "two extensions on one chunk line", chunked(b"5;a=b;c=d\r\nhello\r\n0\r\n\r\n"), 400,
         choice="DEVIATION (left alone): the RFC says ignore them; llhttp 8.1 (Debian) accepts one extension per "
                "chunk line and refuses more: stricter, never lenient",
         why="llhttp 8.1 takes one chunk extension per line: stricter than §7.1.1, a known limit"),
    Case("9112 §7.1.1", "BWS before an extension's ';'", chunked(b"5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400,
         choice="DEVIATION (left alone): BWS is allowed by the grammar; llhttp 8.1 refuses it: stricter",
         why="llhttp 8.1 refuses BWS in a chunk line: stricter than §7.1.1, a known limit"),
    Case("9112 §7.1.1", "NUL in a chunk extension", chunked(b"5;a\x00=b\r\nhello\r\n0\r\n\r\n"), 400,
         why="NUL is in no chunk-ext production: an invalid chunk line, however extensions are ignored"),
    Case("9112 §7.1.1", "bare CR in a chunk extension", chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400,
         why="RFC 9112 §2.2: bare CR is invalid"),
    Case("9112 §7.1.2", "trailer fields are accepted and not merged into the header section",
         chunked(b"5\r\nhello\r\n0\r\nContent-Type: text/evil\r\nX-T: 1\r\n\r\n"), 200, "keep",
         check=all_of(body_is(b"hello"), header_is("Content-Type", "application/octet-stream")),
         choice="RFC 9110 §6.5.1: MUST NOT merge trailers into the header section: goro drops them"),
    Case("9112 §7.1.2", "obs-fold in a trailer", chunked(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400,
         why="trailer fields follow the field syntax (RFC 9112 §7.1.2): obs-fold is rejected as in headers"),
    Case("9112 §7.1.2", "whitespace before a trailer's colon", chunked(b"0\r\nX-T : a\r\n\r\n"), 400,
         why="trailer fields follow the field syntax: whitespace before the colon MUST get 400 (§5.1)"),
    Case("9112 §7.1.2", "bare CR in a trailer", chunked(b"0\r\nX-T: a\rb\r\n\r\n"), 400,
         why="RFC 9112 §2.2: bare CR is invalid, in trailers as anywhere"),

    # ---- §9 connection management ----------------------------------------------
    Case("9112 §9.3", "HTTP/1.1 is persistent by default", get(), 200, "keep"),
    Case("9112 §9.3", "Connection: close closes, and the response says so", get(b"Connection: close\r\n"), 200,
         "close", check=header_is("Connection", "close")),
    Case("9112 §9.3", "connection options are case-insensitive (Close)", get(b"Connection: Close\r\n"), 200, "close"),
    Case("9112 §9.3", "close among other options", get(b"Connection: keep-alive, close\r\n"), 200, "close"),
    Case("9112 §9.3", "HTTP/1.0 closes by default", b"GET / HTTP/1.0\r\n\r\n", 200, "close"),
    Case("9112 §9.3", "HTTP/1.0 with keep-alive is kept, and the response says so",
         b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, "keep",
         check=header_is("Connection", "keep-alive"),
         choice="RFC 9112 Appendix C.2.2: MAY keep an HTTP/1.0 keep-alive connection: goro does"),
    Case("9112 §9.3.2", "pipelined requests are answered in order",
         get() + get(target=b"/nope") + post(b"Content-Length: 3\r\n", b"abc") + get(target=b"/?2"),
         [200, 404, 200, 200], "keep",
         check=bodies_are(b"Hello, World!\n", b"404 Not Found: no such path\n", b"abc", b"Hello, World!\n")),
    Case("9112 §9.3.2", "pipelined requests after a malformed one are not answered",
         get() + b"GET / HTTP/1.1\r\nX-A : a\r\n" + H + b"\r\n" + get(), [200, 400], "close"),
    Case("9112 §9.6", "requests pipelined after Connection: close are not processed",
         get(b"Connection: close\r\n") + post(b"Content-Length: 3\r\n", b"abc"), 200, "close",
         choice="MUST NOT process further requests after close"),
    Case("9110 §7.8", "Upgrade the server does not support is ignored",
         get(b"Connection: Upgrade\r\nUpgrade: h2c\r\n"), 200, "either",
         choice="MAY ignore Upgrade: goro answers 200 (and may close)"),

    # ---- RFC 9110 §10.1.1 Expect ------------------------------------------------
    Case("9110 §10.1.1", "Expect: 100-continue gets 100 before the body is sent",
         [b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", ("await", 100),
          b"hello"], 200, "keep", interim=[100], check=body_is(b"hello")),
    Case("9110 §10.1.1", "100-continue is case-insensitive",
         [b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 2\r\nExpect: 100-Continue\r\n\r\n", ("await", 100),
          b"hi"], 200, "keep", interim=[100]),
    Case("9110 §10.1.1", "body sent without waiting for 100", post(b"Content-Length: 5\r\nExpect: 100-continue\r\n",
                                                                    b"hello"), 200, "keep",
         check=body_is(b"hello"), choice="a 100 may or may not precede the 200"),
    Case("9110 §10.1.1", "100-continue in HTTP/1.0 is ignored (no 100)",
         b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", 200, "close", interim=[],
         choice="MUST ignore the expectation in HTTP/1.0"),
    Case("9110 §10.1.1", "unknown expectation: 417", post(b"Content-Length: 1\r\nExpect: teapot\r\n", b"x"), 417,
         choice="MAY 417 for an expectation it cannot meet: goro does",
         why="RFC 9110 §10.1.1: MAY answer 417 to an unsupported expectation"),
    Case("9110 §10.1.1", "100-continue with a body over the limit: 413 and no 100",
         b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 2000000000\r\nExpect: 100-continue\r\n\r\n", 413,
         interim=[], choice="the final status instead of 100 (the client then does not send the body)"),

    # ---- RFC 9110 request handling ------------------------------------------------
    Case("9110 §15.5.6", "405 carries Allow", b"DELETE / HTTP/1.1\r\n" + H + b"\r\n", 405, "keep",
         check=header_has("Allow", "GET", "HEAD"),
         why="RFC 9110 §15.5.6: 405 MUST carry Allow"),
    Case("9110 §9.3.7", "OPTIONS on a resource lists its methods", get(target=b"/echo", method=b"OPTIONS"), 204,
         "keep", check=all_of(header_has("Allow", "POST", "PUT", "OPTIONS"), lambda rs: "Content-Length" in
                              [k for k, _ in rs[-1].headers] and "204 carries Content-Length" or None),
         why="RFC 9110 §9.3.7: OPTIONS answered with Allow (204, no content)"),
    Case("9110 §9.3.2", "HEAD: GET's fields (Content-Length) and no body", get(method=b"HEAD"), 200, "keep",
         head=True, check=header_is("Content-Length", "14")),
    Case("9110 §9.3.2", "HEAD of a missing path: 404 without a body", get(method=b"HEAD", target=b"/nope"), 404,
         "keep", head=True),
    Case("9110 §6.6.1", "Date in an error response too", b"GET / HTTP/1.1\r\n\r\n", 400,
         check=lambda rs: None if rs[-1].header("Date") else "no Date in the 400"),
    Case("9110 §13.1.1", "If-Match with no matching entity-tag: 412", get(b"If-Match: \"abc\"\r\n"), 412, "keep",
         choice="goro has no entity-tags, so a listed tag never matches",
         why="RFC 9110 §13.1.1: MUST evaluate If-Match; no current tag matches → 412"),
    Case("9110 §13.1.1", "If-Match: * on an existing resource", get(b"If-Match: *\r\n"), 200, "keep"),
    Case("9110 §13.1.2", "If-None-Match: * on an existing resource: 304 without body or Content-Length",
         get(b"If-None-Match: *\r\n"), 304, "keep",
         check=lambda rs: "304 carries Content-Length: 0" if rs[-1].header("Content-Length") == ["0"] else None,
         why="RFC 9110 §13.1.2: '*' matches any current representation → 304 for GET"),
    Case("9110 §13.1.2", "If-None-Match with a tag that does not match: 200", get(b"If-None-Match: \"x\"\r\n"), 200,
         "keep"),
    Case("9110 §13.1.3", "If-Modified-Since without Last-Modified is ignored",
         get(b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 200, "keep"),
    Case("9110 §13.1.4", "If-Unmodified-Since without Last-Modified is ignored",
         get(b"If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 200, "keep",
         why="RFC 9110 §13.1.4: MUST ignore it when the resource has no modification date (goro's have none)"),
    Case("9110 §14.2", "Range is ignored: the full 200", get(b"Range: bytes=0-1\r\n"), 200, "keep",
         check=body_is(b"Hello, World!\n"), choice="MAY ignore Range: goro does (no 206)"),
    Case("9110 §14.2", "an invalid Range is ignored too", get(b"Range: lines=x\r\n"), 200, "keep"),
]

# Sanity: names are unique (the differential table keys on them).
assert len({c.name for c in CASES}) == len(CASES), [c.name for c in CASES if
                                                    [d.name for d in CASES].count(c.name) > 1]
SECTION_ORDER = sorted({c.section for c in CASES},
                       key=lambda s: (s.split()[0], [int(x) for x in re.findall(r"\d+", s.split()[1])]))
