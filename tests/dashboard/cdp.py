"""tests/dashboard/cdp.py — headless Chromium driven over the Chrome DevTools
Protocol on --remote-debugging-pipe, with Python's standard library only: the
browser reads JSON commands, each ended by a NUL byte, from its fd 3 and writes
answers and events the same way to its fd 4.  Used by dashboard_test.py and
scripts/dashboard-shot.

    with Browser() as b:              # Browser.find() is None: no chromium here
        page = b.open("http://127.0.0.1:8080/debug/", width=1280, height=900)
        page.evaluate("document.title")
        page.wait_event("dash-sample", "document.body.dataset.samples", timeout=30)
        page.screenshot("shot.png")

Every wait has a deadline; a command the browser does not answer in time, or a
browser that exits, raises CdpError.
"""

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time


class CdpError(Exception):
    pass


class Browser:
    # Quiet and offline: no first-run UI, no component or safe-browsing
    # downloads, no extensions, and no timer throttling of a page nobody looks
    # at.  --no-sandbox: CI containers and root lack the namespaces Chromium's
    # sandbox needs, and the only page loaded is our own, from 127.0.0.1.
    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
             "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
             "--disable-backgrounding-occluded-windows", "--disable-dev-shm-usage", "--hide-scrollbars"]

    @staticmethod
    def find():
        """The browser's path ($GORO_CHROMIUM, else chromium on PATH), or None."""
        return os.environ.get("GORO_CHROMIUM") or shutil.which("chromium")

    def __init__(self, path=None, timeout=60):
        self.path = path or Browser.find()
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="goro-chromium-")
        # The browser's ends become its fd 3 and 4 through bash's redirections
        # (dash takes one-digit descriptors only), moved to fd 10 and up first
        # so no redirection clobbers another.
        to_browser_r, self._to_browser = (high_fd(fd) for fd in os.pipe())
        self._from_browser, from_browser_w = (high_fd(fd) for fd in os.pipe())
        argv = [self.path] + self.FLAGS + [f"--user-data-dir={self.profile.name}", "about:blank"]
        print("$ " + " ".join(argv), flush=True)
        wrap = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        self.proc = subprocess.Popen(["bash", "-c", wrap, "bash"] + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     pass_fds=(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.stderr = []
        self._next_id = 0
        self._answers = {}          # id -> message
        self._events = queue.Queue()
        self._cv = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def _read(self):
        buf = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                *msgs, buf = buf.split(b"\0")
                for raw in msgs:
                    msg = json.loads(raw)
                    if "id" in msg:
                        with self._cv:
                            self._answers[msg["id"]] = msg
                            self._cv.notify_all()
                    else:
                        self._events.put(msg)
        with self._cv:
            self._ended = True
            self._cv.notify_all()

    def send(self, method, params=None, session=None, timeout=None):
        """Sends a command and returns its result; CdpError on an error answer."""
        with self._cv:
            self._next_id += 1
            mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        with self._cv:
            if not self._cv.wait_for(lambda: mid in self._answers or self._ended, timeout or self.timeout):
                raise CdpError(f"{method}: no answer in {timeout or self.timeout} s")
            if mid not in self._answers:
                raise CdpError(f"{method}: the browser exited\n{''.join(self.stderr)[-2000:]}")
            answer = self._answers.pop(mid)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def events(self):
        """The events received so far (each once)."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def open(self, url, width=1280, height=900):
        """A new page at `url`, attached; returns a Page."""
        target = self.send("Target.createTarget", {"url": "about:blank"})
        session = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        page = Page(self, session)
        page.send("Network.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        page.send("Page.navigate", {"url": url})
        return page

    def close(self):
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", timeout=10)
        except (CdpError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self.profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def send(self, method, params=None, timeout=None):
        return self.browser.send(method, params, self.session, timeout)

    def evaluate(self, expression, timeout=None):
        """The JSON-able value of `expression` (a promise is awaited)."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      timeout)
        if "exceptionDetails" in r:
            raise CdpError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_event(self, event, expression, timeout):
        """Waits for the page's next `event` on document, then returns
        `expression`'s value; CdpError if none comes within `timeout` s."""
        js = (f"new Promise(ok => document.addEventListener({json.dumps(event)}, "
              f"() => ok({expression}), {{once: true}}))")
        return self.evaluate(js, timeout=timeout)

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def high_fd(fd):
    """`fd` moved to a descriptor ≥ 10 (close-on-exec)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def deadline(seconds):
    """A function giving the seconds left until `seconds` from now (≥ 0)."""
    end = time.monotonic() + seconds
    return lambda: max(0.0, end - time.monotonic())
