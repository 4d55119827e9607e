#!/usr/bin/env bash
# Run the core Python tests against an AddressSanitizer + UBSan build of tapegrad._C.
#
#   bash tools/asan_pytest.sh [extra pytest args...]
#
# 1. configures and builds the module with -DTAPEGRAD_SANITIZE=ON in build/asan-py
#    (override with TAPEGRAD_ASAN_BUILD=dir; PYTHON=... selects the interpreter);
# 2. stages a copy of python/tapegrad with that _C*.so in a temporary directory;
# 3. runs a core subset of the pytest suite with libasan preloaded (CPython itself is
#    not instrumented, so the ASan runtime must be loaded first) and leak detection off
#    (CPython keeps interned objects alive until exit by design).
# Any ASan or UBSan report aborts the interpreter, which fails the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-$(command -v python3 || command -v python)}
BUILD=${TAPEGRAD_ASAN_BUILD:-$ROOT/build/asan-py}
CORE_TESTS=(tests/test_elementwise.py tests/test_reductions.py tests/test_shape_indexing.py
            tests/test_gradients.py tests/test_autograd.py tests/test_tape.py
            tests/test_creation.py tests/test_errors.py tests/test_fuzz.py)

start=$SECONDS
echo "=== [asan_pytest] configure + build ($BUILD)"
PYBIND11_DIR=$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_PYTHON=ON \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF \
  -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$PYBIND11_DIR" >/dev/null
ninja -C "$BUILD" _C

shopt -s nullglob
sos=("$BUILD"/_C*.so)
if ((${#sos[@]} != 1)); then echo "expected one _C*.so in $BUILD, found: ${sos[*]-none}" >&2; exit 1; fi
SO=${sos[0]}
echo "=== [asan_pytest] built $(basename "$SO") in $((SECONDS - start))s"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-asan.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
cp -r "$ROOT/python/tapegrad" "$STAGE/"
find "$STAGE/tapegrad" -name '_C*.so' -exec rm -f {} +
find "$STAGE/tapegrad" -name '__pycache__' -prune -exec rm -rf {} +
cp "$SO" "$STAGE/tapegrad/"

# The compiler's own ASan runtime (the one the module was linked against), preloaded
# together with libstdc++: python is not linked against libstdc++, and without it ASan
# cannot find the real __cxa_throw ("CHECK failed: ... real___cxa_throw") and aborts on
# the first C++ exception.
LIBASAN=$(${CXX:-g++} -print-file-name=libasan.so)
LIBSTDCXX=$(${CXX:-g++} -print-file-name=libstdc++.so)
for lib in "$LIBASAN" "$LIBSTDCXX"; do
  if [[ ! -e $lib ]]; then echo "runtime library not found (got '$lib')" >&2; exit 1; fi
done
PRELOAD="$LIBASAN $LIBSTDCXX"

export PYTHONPATH="$STAGE${PYTHONPATH:+:$PYTHONPATH}"
# allocator_may_return_null: a huge request (tests of tg.zeros(2**40)) is a bad_alloc,
# hence a MemoryError, as without ASan, not an "allocation-size-too-big" abort.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:print_summary=1:strict_init_order=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export PYTHONMALLOC=malloc   # let ASan see CPython's allocations too (use-after-free on objects)
export PYTHONFAULTHANDLER=1

# The module under test must be the instrumented copy, not the source tree's or an installed one.
LD_PRELOAD="$PRELOAD" "$PY" - "$STAGE" <<'PYEOF'
import os, sys
import tapegrad
stage = sys.argv[1]
where = os.path.realpath(tapegrad._C.__file__)
assert where.startswith(os.path.realpath(stage)), f"tapegrad._C imported from {where}, not the ASan build"
print("=== [asan_pytest] testing", where)
PYEOF

echo "=== [asan_pytest] pytest ${CORE_TESTS[*]} $*"
t0=$SECONDS
rc=0
# --capture=sys: pytest's default fd-level capture would swallow the sanitizer's report
# (written to fd 2) when the interpreter aborts.
LD_PRELOAD="$PRELOAD" "$PY" -m pytest -x -q -p no:cacheprovider --capture=sys "${CORE_TESTS[@]}" "$@" || rc=$?
echo "=== [asan_pytest] pytest exit $rc after $((SECONDS - t0))s (total $((SECONDS - start))s)"
if ((rc < 0 || rc > 128)); then echo "=== [asan_pytest] interpreter killed by a signal: see the sanitizer report above" >&2; fi
exit $rc
