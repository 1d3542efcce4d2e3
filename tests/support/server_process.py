"""tests/support/server_process.py — a server binary (goro, or a peer that logs the
same way) run by a Python test on 127.0.0.1 with --port 0: the port is read from
its log line "listening on 127.0.0.1:PORT".  Used by tests/clients and tests/db.

    server = ServerProcess([binary, "--bind", "127.0.0.1", "--port", "0", ...])
    if server.port is None: fail(server.text())   # it exited, or never said
    ...
    code = server.stop()                             # SIGTERM; exit code or None
"""

import re
import signal
import subprocess
import threading


class ServerProcess:
    LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

    def __init__(self, argv, start_timeout=30):
        self.argv = argv
        print("$ " + " ".join(argv), flush=True)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.log = []
        self.cv = threading.Condition()
        self.ended = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        with self.cv:  # until the log names the port or ends (the server exited)
            self.cv.wait_for(lambda: self._port() or self.ended, timeout=start_timeout)
            self.port = self._port()

    def _read(self):
        for line in self.proc.stderr:
            with self.cv:
                self.log.append(line.decode(errors="replace"))
                self.cv.notify_all()
        with self.cv:
            self.ended = True
            self.cv.notify_all()

    def _port(self):
        m = self.LISTENING.search("".join(self.log))
        return int(m.group(1)) if m else None

    def text(self):
        with self.cv:
            return "".join(self.log)

    def stop(self, timeout=30):
        """SIGTERM, then the exit code; None if it did not exit within `timeout`
        (it is then killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
