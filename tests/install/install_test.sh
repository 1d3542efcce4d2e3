#!/usr/bin/env bash
# The install test (tests/install/CMakeLists.txt has the why): install into a
# temporary prefix, build examples/ against it from a copy outside the source
# tree, smoke them, and build one file with pkg-config --static.
set -euo pipefail
launcher=""
while (($#)); do
  case $1 in
    --build-dir) build=$2 ;;
    --examples) examples=$2 ;;
    --pkgconfig-main) pcmain=$2 ;;
    --libdir) libdir=$2 ;;
    --generator) generator=$2 ;;
    --cxx) cxx=$2 ;;
    --launcher) launcher=$2 ;;
    --pkg-config) pkgconfig=$2 ;;
    --instrumented) instrumented=$2 ;;
    *) echo "install_test: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
if [ "$instrumented" = ON ]; then
  echo "install: skipped: sanitizer/fuzzing build (its libraries need the instrumentation runtime at every link)"
  exit 77
fi
command -v python3 >/dev/null || { echo "install: skipped: no python3 for the smoke tests"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

echo "-- cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

# What is installed: the goro binary only, libraries, no test or bench
# executables, and nothing of the build's private targets in the package.
bins=$(ls "$prefix/bin")
[ "$bins" = goro ] || { echo "install: bin/ should hold goro alone, holds: $bins"; exit 1; }
if grep -En 'goro_warnings|nlohmann|doctest|benchmark' "$prefix/$libdir/cmake/goro/"*.cmake; then
  echo "install: the CMake package names a build-only dependency (above)"; exit 1
fi
for pc in goro-runtime goro-netpoll goro-pg goro-http; do
  [ -f "$prefix/$libdir/pkgconfig/$pc.pc" ] || { echo "install: $pc.pc missing"; exit 1; }
done

echo "-- examples against the prefix (find_package)"
cp -r "$examples" "$tmp/examples"   # a copy: nothing of the source tree is reachable
args=(-S "$tmp/examples" -B "$tmp/ex" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx")
[ -n "$launcher" ] && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
cmake "${args[@]}" >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/ex"
ctest --test-dir "$tmp/ex" --output-on-failure --no-tests=error

echo "-- one file with pkg-config --static goro-http"
# shellcheck disable=SC2046  # pkg-config's output is a list of words
$launcher "$cxx" -std=c++20 -O1 "$pcmain" -o "$tmp/pcmain" \
  $(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" "$pkgconfig" --cflags --libs --static goro-http)
"$tmp/pcmain"
