"""loadtest/peers/go/build_peer.py — builds the Go peer (main.go beside this file)
offline, for loadtest/compare and tests/conformance/differential alike.

GOPATH mode (GO111MODULE=off) with Debian's Go source tree (/usr/share/gocode, where
golang-github-lib-pq-dev puts github.com/lib/pq) and GOPROXY=off: nothing comes from
the network.  Rebuilds only when main.go is newer than the binary.
"""

import os
import subprocess
from pathlib import Path

SRC = Path(__file__).resolve().parent / "main.go"
DEBIAN_GOPATH = Path("/usr/share/gocode")


def build(go, cache):
    """Returns (path of goro-go-peer, None) or (None, why it could not be built)."""
    if not go or not os.access(go, os.X_OK):
        return None, f"`go` not installed{f' at {go}' if go else ''} (Debian package golang-go)"
    if not (DEBIAN_GOPATH / "src" / "github.com" / "lib" / "pq").is_dir():
        return None, "github.com/lib/pq missing (Debian package golang-github-lib-pq-dev)"
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    exe = cache / "goro-go-peer"
    if exe.is_file() and exe.stat().st_mtime >= SRC.stat().st_mtime:
        return exe, None
    env = dict(os.environ, GOCACHE=str(cache / "gocache"), GOPATH=f"{cache / 'gopath'}:{DEBIAN_GOPATH}",
               GO111MODULE="off", GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local", CGO_ENABLED="0")
    r = subprocess.run([go, "build", "-o", str(exe), "."], cwd=SRC.parent, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"go build of {SRC.parent} failed: {r.stderr.strip()[:300]}"
    return exe, None
