#!/usr/bin/env bash
# C and C++ tests of liblsmvec: builds the library (make lib), compiles tests/c/*.c and
# tests/cpp/*.cpp against the static and the shared library, runs them, runs the C++ tests and
# the C test once under valgrind, and checks `make install` + pkg-config.
#
#   scripts/test-c.sh            everything
#   NO_VALGRIND=1 scripts/test-c.sh   skip the valgrind runs
#
# Respects CARGO_TARGET_DIR, CC, CXX. Last line: "c-tests: N passed, M failed"; exit 1 on failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"
CFLAGS=(-std=c11 -O1 -g -Wall -Wextra -Werror -pedantic -Iinclude)
CXXFLAGS=(-std=c++17 -O1 -g -Wall -Wextra -Werror -pedantic -Iinclude -Itests/cpp)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lsmvec-c-tests.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
failures=()
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }
finish() {
  for f in "${failures[@]+"${failures[@]}"}"; do echo "failed: $f"; done
  echo "c-tests: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

echo "== make lib"
if ! make --no-print-directory lib; then
  fail "make lib"
  finish
fi
[ -f build/lib/liblsmvec.a ] && pass "build/lib/liblsmvec.a exists" || fail "build/lib/liblsmvec.a exists"
[ -f build/lib/liblsmvec.so ] && pass "build/lib/liblsmvec.so exists" || fail "build/lib/liblsmvec.so exists"
read -r -a STATIC_LIBS <<< "$(make --no-print-directory -s print-static-libs)"

# Only the lsm_vec_* functions are exported by the shared library.
if nm -D --defined-only build/lib/liblsmvec.so | awk '$2 == "T" {print $3}' | grep -v '^lsm_vec_' | grep -q .; then
  fail "shared library exports only lsm_vec_* functions"
else
  pass "shared library exports only lsm_vec_* functions"
fi

# The header declares exactly the functions the library exports.
exported="$(nm -D --defined-only build/lib/liblsmvec.so | awk '$2 == "T" {print $3}' | sort -u)"
declared="$(grep -oE '\blsm_vec_[a-z_]+\(' include/lsm_vec.h | tr -d '(' | sort -u)"
if [ "$exported" = "$declared" ]; then
  pass "lsm_vec.h declares exactly the $(echo "$exported" | wc -l) exported functions"
else
  diff <(echo "$declared") <(echo "$exported") | sed 's/^/  header vs library: /'
  fail "lsm_vec.h declares exactly the exported functions"
fi

# compile NAME LANG SOURCE LINK(static|shared)
compile() {
  local name="$1" lang="$2" src="$3" link="$4" out="$WORK/bin/$1"
  mkdir -p "$WORK/bin"
  local cmd
  if [ "$lang" = c ]; then cmd=("$CC" "${CFLAGS[@]}" "$src"); else cmd=("$CXX" "${CXXFLAGS[@]}" "$src"); fi
  if [ "$link" = static ]; then
    cmd+=(build/lib/liblsmvec.a "${STATIC_LIBS[@]}")
  else
    cmd+=(-Lbuild/lib -llsmvec "-Wl,-rpath,$ROOT/build/lib" -lpthread -lm)
  fi
  if "${cmd[@]}" -o "$out" 2> "$WORK/$name.compile.log"; then
    pass "compile $name"
    return 0
  fi
  cat "$WORK/$name.compile.log"
  fail "compile $name"
  return 1
}

# run NAME [wrapper...]: runs $WORK/bin/NAME in a fresh scratch directory
run() {
  local name="$1"; shift
  local label="$name"
  [ $# -gt 0 ] && label="$name under $1"
  local scratch="$WORK/scratch/$label"
  scratch="${scratch// /_}"
  rm -rf "$scratch" && mkdir -p "$scratch"
  local log="$WORK/${label// /_}.log"
  if (cd "$scratch" && timeout 300 "$@" "$WORK/bin/$name" "$scratch") > "$log" 2>&1; then
    pass "run $label ($(grep -E 'checks, ' "$log" | tail -n 1))"
  else
    tail -n 40 "$log"
    fail "run $label"
  fi
}

echo "== compile and run (static and shared)"
for link in static shared; do
  compile "test_capi_$link" c tests/c/test_capi.c "$link" && run "test_capi_$link"
  for src in tests/cpp/*.cpp; do
    base="$(basename "$src" .cpp)"
    compile "${base}_$link" cxx "$src" "$link" && run "${base}_$link"
  done
done

# The shared builds really use liblsmvec.so; the static ones do not.
if readelf -d "$WORK/bin/spec_examples_shared" 2>/dev/null | grep -q 'NEEDED.*liblsmvec\.so'; then
  pass "shared test binaries load liblsmvec.so"
else
  fail "shared test binaries load liblsmvec.so"
fi
if readelf -d "$WORK/bin/spec_examples_static" 2>/dev/null | grep -q 'liblsmvec'; then
  fail "static test binaries do not need liblsmvec.so"
else
  pass "static test binaries do not need liblsmvec.so"
fi

if [ -z "${NO_VALGRIND:-}" ]; then
  echo "== valgrind"
  if command -v valgrind > /dev/null; then
    # Every leak kind is an error except "still reachable"; tests/cpp/valgrind.supp lists (and
    # explains) the one Rust std block suppressed.
    VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1
        --suppressions="$ROOT/tests/cpp/valgrind.supp" -q)
    for name in spec_examples_static api_test_static test_capi_static spec_examples_shared; do
      [ -x "$WORK/bin/$name" ] && run "$name" "${VG[@]}"
    done
  else
    fail "valgrind is not installed (set NO_VALGRIND=1 to skip)"
  fi
fi

echo "== make install + pkg-config"
PREFIX_DIR="$WORK/prefix"
if make --no-print-directory -s install PREFIX="$PREFIX_DIR" > "$WORK/install.log" 2>&1; then
  pass "make install"
  export PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig"
  if libs="$(pkg-config --libs lsmvec | xargs)" && [ "$libs" = "-L$PREFIX_DIR/lib -llsmvec" ]; then
    pass "pkg-config --libs lsmvec"
  else
    fail "pkg-config --libs lsmvec (got: ${libs:-})"
  fi
  mkdir -p "$WORK/bin"
  # shellcheck disable=SC2046
  if "$CXX" -std=c++17 -Itests/cpp tests/cpp/spec_examples.cpp $(pkg-config --cflags --libs lsmvec) \
      "-Wl,-rpath,$(pkg-config --variable=libdir lsmvec)" -o "$WORK/bin/spec_examples_pkgconfig" \
      2> "$WORK/pc.log"; then
    pass "compile spec_examples with pkg-config (shared)"
    run spec_examples_pkgconfig
  else
    cat "$WORK/pc.log"; fail "compile spec_examples with pkg-config (shared)"
  fi
  # shellcheck disable=SC2046
  if "$CC" -std=c11 tests/c/test_capi.c $(pkg-config --cflags lsmvec) "$PREFIX_DIR/lib/liblsmvec.a" \
      $(pkg-config --libs-only-l --static lsmvec | sed 's/-llsmvec//') -o "$WORK/bin/test_capi_pkgconfig_static" \
      2> "$WORK/pc2.log"; then
    pass "compile test_capi with pkg-config --static"
    run test_capi_pkgconfig_static
  else
    cat "$WORK/pc2.log"; fail "compile test_capi with pkg-config --static"
  fi
else
  cat "$WORK/install.log"; fail "make install"
fi

finish
