#!/usr/bin/env bash
# Runs every unit-test binary of a build directory; each prints check's summary.
# Appends "passed failed" totals to $KJ_TOTALS when set. Exit 1 when any failed.
set -u
build=${1:-build}
fail=0 passed=0 failed=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  out=$("$t" 2>&1); rc=$?
  echo "$out" | grep -E '^[0-9]+%: Checks' | sed "s|^|$(basename "$t"): |"
  if [ $rc -ne 0 ]; then echo "$out" | tail -40; fail=1; fi
  checks=$(echo "$out" | sed -nE 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' | tail -1)
  if [ -n "$checks" ]; then
    read -r c f e <<<"$checks"
    passed=$((passed + c - f - e)); failed=$((failed + f + e))
  elif [ $rc -ne 0 ]; then failed=$((failed + 1)); fi
done
[ -n "${KJ_TOTALS:-}" ] && echo "$passed $failed" >>"$KJ_TOTALS"
echo "unit ($build): $passed passed, $failed failed"
exit $fail
