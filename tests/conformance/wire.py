"""A raw-socket HTTP/1.1 client for the conformance corpus: it sends exactly the
bytes a case says, reads responses as a strict client would, and reports what
happened to the connection.  Every read is bounded by the case's deadline; no
read waits on a sleep.  Standard library only."""

import re
import socket
import time

STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3}) ?([^\r\n]*)")


class Timeout(Exception):
    pass


class Closed(Exception):
    """The peer closed (EOF or reset) where a response was expected."""


class Garbled(Exception):
    """The bytes on the wire are not a response."""


class Response:
    def __init__(self, status, headers, body, raw):
        self.status, self.headers, self.body, self.raw = status, headers, body, raw

    def header(self, name):
        """The values of every field called `name` (case-insensitive)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<{self.status} {len(self.body)} bytes>"


class Conn:
    def __init__(self, port, deadline, host="127.0.0.1"):
        self.deadline = deadline
        self.buf = b""
        self.eof = False
        self.sock = socket.create_connection((host, port), timeout=self._left())
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout("deadline passed")
        return left

    def send(self, data):
        """False when the peer has already closed (EPIPE / reset)."""
        try:
            self.sock.settimeout(self._left())
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def shut_wr(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _fill(self):
        """Reads more bytes; False at EOF or reset."""
        if self.eof:
            return False
        self.sock.settimeout(self._left())
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("no bytes before the deadline")
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_line(self, what):
        while b"\n" not in self.buf:
            if not self._fill():
                raise Closed(f"closed before {what}" + (f" (had {self.buf[:60]!r})" if self.buf else ""))
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        if not line.endswith(b"\r\n"):
            raise Garbled(f"{what} not ended by CRLF: {line[:80]!r}")
        return line[:-2]

    def _take(self, n, what):
        while len(self.buf) < n:
            if not self._fill():
                raise Closed(f"closed in {what} ({len(self.buf)} of {n} bytes)")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request=False):
        """One response (interim ones included: the caller looks at status)."""
        line = self._take_line("status line")
        m = STATUS_LINE.fullmatch(line)
        if not m:
            raise Garbled(f"not a status line: {line[:80]!r}")
        status = int(m.group(3))
        raw = [line]
        headers = []
        while True:
            line = self._take_line("header line")
            raw.append(line)
            if not line:
                break
            if b":" not in line:
                raise Garbled(f"header line without a colon: {line[:80]!r}")
            k, v = line.split(b":", 1)
            headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        r = Response(status, headers, b"", b"\r\n".join(raw))
        if status < 200 or status in (204, 304) or head_request:
            return r
        te = ",".join(r.header("Transfer-Encoding")).lower()
        if te:
            if te.split(",")[-1].strip() != "chunked":
                raise Garbled(f"response framed by Transfer-Encoding {te!r}")
            body = b""
            while True:
                size_line = self._take_line("chunk size")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._take_line("trailer"):
                        pass
                    break
                body += self._take(size, "chunk")
                if self._take(2, "chunk end") != b"\r\n":
                    raise Garbled("chunk data not followed by CRLF")
            r.body = body
            return r
        cl = r.header("Content-Length")
        if cl:
            r.body = self._take(int(cl[0]), "body")
            return r
        while self._fill():  # close-delimited
            pass
        r.body, self.buf = self.buf, b""
        return r

    def wait_closed(self):
        """Reads until EOF: returns the bytes that came before it (b"" when
        the peer closed cleanly after the last response)."""
        while self._fill():
            pass
        extra, self.buf = self.buf, b""
        return extra

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
