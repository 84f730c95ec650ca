#!/usr/bin/env bash
# make check: every suite — unit and integration tests, both again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz targets briefly,
# then the browser tests, then the Debian packages (built, linted, and
# installed when run as root).
# Ends with one line "N passed, N failed" over all suites.
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh all || exit 1
export KJ_TOTALS; KJ_TOTALS=$(mktemp)
trap 'rm -f "$KJ_TOTALS"' EXIT
status=0
step() { echo; echo "== $*"; }

pytest_totals() { # parse pytest's last line into "passed failed"
  local line=$1 p f e
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
  e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+' || echo 0)
  echo "${p:-0} $(( ${f:-0} + ${e:-0} ))" >>"$KJ_TOTALS"
}

integration() { # $1 = build dir
  local out rc
  out=$(mktemp)
  KJ_BUILD=$1 python3 -m pytest -q -p no:cacheprovider tests/integration 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  pytest_totals "$(tail -1 "$out")"
  rm -f "$out"
  return "$rc"
}

step "build"
make -s all web tests/docs/node_modules/.ok || exit 1
make -s build-tests || exit 1
step "unit tests"
scripts/run-unit.sh build || status=1
step "integration tests"
PATH=/usr/bin:$PATH integration build || status=1

step "build with ASan + UBSan"
make -s SAN=1 all $(ls tests/unit/test_*.c | sed 's|tests/unit/\(.*\)\.c|build/san/tests/\1|') \
  $(ls tests/bench/bench_*.c | sed 's|tests/bench/\(.*\)\.c|build/san/bench/\1|') || exit 1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export CK_FORK=yes
step "unit tests (ASan + UBSan)"
scripts/run-unit.sh build/san || status=1
step "integration tests (ASan + UBSan)"
PATH=/usr/bin:$PATH integration build/san || status=1
unset ASAN_OPTIONS UBSAN_OPTIONS

step "durability (acks after the sync, power loss)"
make -s build/durability/kjsync.so build/durability/kjpower.so || exit 1
out=$(mktemp)
PATH=/usr/bin:$PATH KJ_BUILD=build python3 -m pytest -q -p no:cacheprovider tests/durability/test_ack_order.py \
  tests/durability/test_power_loss.py 2>&1 | tee "$out"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
pytest_totals "$(tail -1 "$out")"
rm -f "$out"

# Each fuzz target for a few seconds from its seed corpus, where every crash
# ever found and fixed is kept: a regression fails here (one count per target).
step "fuzz targets (${KJ_FUZZ_SECONDS:-5} s each)"
scripts/fuzz.sh "${KJ_FUZZ_SECONDS:-5}" || status=1

if [ -d tests/browser ] && [ -f tests/browser/package.json ]; then
  step "browser tests (headless chromium)"
  out=$(mktemp)
  make -s check-browser 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}
  p=$(grep -oE '^# pass [0-9]+' "$out" | grep -oE '[0-9]+' | tail -1)
  f=$(grep -oE '^# fail [0-9]+' "$out" | grep -oE '[0-9]+' | tail -1)
  echo "${p:-0} ${f:-$rc}" >>"$KJ_TOTALS"
  [ "$rc" -eq 0 ] || status=1
  rm -f "$out"
fi

step "Debian packages (make deb, lintian; install, remove, purge when root)"
out=$(mktemp)
make -s check-packages 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}
last=$(tail -1 "$out")
if echo "$last" | grep -qE '[0-9]+ (passed|failed|skipped)'; then pytest_totals "$last"
else echo "0 $(( rc != 0 ))" >>"$KJ_TOTALS"; fi
[ "$rc" -eq 0 ] || status=1
rm -f "$out"

read -r P F < <(awk '{p+=$1; f+=$2} END {print p+0, f+0}' "$KJ_TOTALS")
echo
echo "$P passed, $F failed"
[ "$F" -eq 0 ] || status=1
exit $status
