#!/usr/bin/env python3
"""tests/db/tfb_selftest.py — CTest's db.tfb.selftest: the checks of tfb_test.py run
against tfb_stub.py, first with correct answers (every check must pass), then with one
deliberate bug at a time (the check named for it must fail).  A check that cannot fail
proves nothing; this shows each one failing on the mistake it is there to catch.

    tfb_selftest.py --conninfo-file build/db-test/conninfo [--only FAULT]

Not covered here, because they take long or stop the shared database (run them by
hand, see the commit message): frozen-date (needs a run over 5 s: "Date moves" and the
Date check fail) and down-500 (--case down: "down: /db #1" fails).
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77

# fault -> (tfb_test.py arguments, a check that must fail)
CASES = {
    "json-extra-key": (["--only", "json"], "/json"),
    "no-date": (["--only", "json"], "/json"),
    "stale-date": (["--only", "json"], "/json"),
    "plaintext-newline": (["--only", "plaintext"], "/plaintext"),
    "content-length": (["--only", "plaintext"], "/plaintext"),
    "db-wrong-row": (["--only", "db"], "/db x 20"),
    "db-string-id": (["--only", "db"], "/db x 20"),
    "queries-no-max": (["--only", "queries"], "/queries?queries=501"),
    "queries-zero": (["--only", "queries"], "/queries?queries=0"),
    "queries-foo-error": (["--only", "queries"], "/queries?queries=foo"),
    "fortunes-unescaped": (["--only", "fortunes"], "/fortunes"),
    "fortunes-no-added": (["--only", "fortunes"], "/fortunes"),
    "fortunes-unsorted": (["--only", "fortunes"], "/fortunes"),
    "fortunes-charrefs": (["--only", "fortunes"], "/fortunes"),
    "fortunes-content-type": (["--only", "fortunes"], "/fortunes"),
    "updates-not-persisted": (["--only", "updates"], "/updates wrote new values"),
    "updates-wrong-row": (["--only", "updates"], "/updates?queries=20"),
    "updates-lose-one": (["--only", "updates"], "/updates?queries=20"),
    "pool-unbounded": (["--case", "pool", "--requests", "50"], "pool size honoured"),
    "deadline-no-cancel": (["--case", "deadline"], "the timed-out queries are cancelled"),
}


def run(conninfo_file, fault, args):
    argv = [sys.executable, os.path.join(HERE, "tfb_test.py"), "--binary", os.path.join(HERE, "tfb_stub.py"),
            "--conninfo-file", conninfo_file, f"--server-arg=--fault={fault}"] + args
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr, set(re.findall(r"^FAIL    (.*):$", r.stdout, re.M))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conninfo-file", required=True)
    ap.add_argument("--only", action="append", choices=["none"] + list(CASES))
    a = ap.parse_args()
    failed = []
    for fault in a.only or ["none"] + list(CASES):
        args, must_fail = CASES.get(fault, ([], None))
        code, out, fails = run(a.conninfo_file, fault, args)
        if code == SKIP:
            print(out)
            return SKIP
        if must_fail is None:
            good = code == 0 and not fails
            verdict = "every check passed" if good else f"exit {code}, failed: {sorted(fails)}"
        else:
            good = code == 1 and must_fail in fails
            verdict = (f"failed as it must: {sorted(fails)}" if good else
                       f"want {must_fail!r} to fail; exit {code}, failed: {sorted(fails)}")
        print(f"{'ok  ' if good else 'FAIL'}    {fault}: {verdict}", flush=True)
        if not good:
            print("  | " + out.rstrip().replace("\n", "\n  | "), flush=True)
            failed.append(fault)
    print(f"\n{len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
