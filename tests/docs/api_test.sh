#!/bin/sh
# docs.api: builds the API reference with the `docs` target's Doxyfile and
# fails on any doxygen warning — an undocumented public symbol, a broken
# \ref, a malformed command.  Skipped (77), with the reason, where doxygen is
# missing and in sanitizer builds (they check code, not comments; the plain
# build of the same commit runs this).
#   api_test.sh DOXYFILE [SANITIZER]
doxyfile=$1 sanitize=${2:-}
if [ -n "$sanitize" ]; then
  echo "docs.api: skipped: sanitizer build (GORO_SANITIZE=$sanitize); the plain build checks the reference"
  exit 77
fi
if ! command -v doxygen >/dev/null 2>&1; then
  echo "docs.api: skipped: doxygen not installed (apt-get install doxygen; scripts/setup does)"
  exit 77
fi
cd "$(dirname "$doxyfile")" || exit 1
# WARN_AS_ERROR = FAIL_ON_WARNINGS makes doxygen exit non-zero after listing
# them all; QUIET = YES leaves only warnings on stderr, so any output fails too
# (should the configuration ever lose the first setting).
warnings=$(doxygen "$doxyfile" 2>&1 >/dev/null)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$warnings" ]; then
  printf '%s\n' "$warnings"
  echo "docs.api: FAILED: doxygen exit $rc, $(printf '%s\n' "$warnings" | grep -c 'warning:\|error:') warning(s) above"
  exit 1
fi
echo "docs.api: reference built without warnings: $(dirname "$doxyfile")/api/html/index.html"
