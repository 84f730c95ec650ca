#!/usr/bin/env bash
# Run every libFuzzer target (built by `make fuzz-build` into build/fuzz, clang
# with ASan + UBSan) from its seed corpus, tests/fuzz/corpus/NAME; what a run
# finds is kept in build/fuzz/corpus-NAME for the next run.
#
#   scripts/fuzz.sh [SECONDS]   each target for SECONDS (default 10): make fuzz, make check
#   scripts/fuzz.sh long        each target for at least 10^7 executions, at the
#                               lowest priority (nice 19): make fuzz-long
#   scripts/fuzz.sh SECONDS NAME...   only those targets (fuzz_json, ...)
#
# One line per target: executions, coverage (edges, features), corpus size and
# time. A crash stops that target with the reproducer's path
# (build/fuzz/crash-*): replay it with `build/fuzz/fuzz_NAME FILE`, fix, and add
# it to the target's seed corpus. Exit status 1 when any target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
mode=${1:-10}
shift || true
make -s fuzz-build || exit 1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls build/fuzz/ | grep -E '^fuzz_[a-z_]+$'))
# Long runs take hours to days on a machine others use: the lowest priority.
LONG_RUNS=10000000
if [ "$mode" = long ]; then
  limit=(-runs=$LONG_RUNS -max_total_time=0)
  prio=(nice -n 19)
else
  limit=(-max_total_time="$mode")
  prio=()
fi

# The TZ database's own zones are seeds too (not copied into the repository).
zones=()
for z in UTC Asia/Jakarta Europe/Berlin America/New_York Australia/Lord_Howe; do
  [ -f "/usr/share/zoneinfo/$z" ] && zones+=("/usr/share/zoneinfo/$z")
done

failed=0
for name in "${targets[@]}"; do
  short=${name#fuzz_}
  corpus="build/fuzz/corpus-$short"
  mkdir -p "$corpus"
  seeds=()
  [ -d "tests/fuzz/corpus/$short" ] && seeds+=("tests/fuzz/corpus/$short")
  if [ "$short" = tzif ] && [ ${#zones[@]} -gt 0 ]; then
    mkdir -p build/fuzz/seeds-tzif && cp -f "${zones[@]}" build/fuzz/seeds-tzif/ 2>/dev/null
    seeds+=(build/fuzz/seeds-tzif)
  fi
  log="build/fuzz/$name.log"
  start=$(date +%s)
  # -rss_limit_mb: a target that grows memory with its input is a finding.
  "${prio[@]}" "build/fuzz/$name" "${limit[@]}" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix=build/fuzz/ "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
  rate=$(( ${runs:-0} / (secs > 0 ? secs : 1) ))
  # A long run that stopped short of its executions without a crash (a
  # timeout, the RSS limit) has not done what it promises: a failure too.
  if [ $rc -eq 0 ] && [ "$mode" = long ] && [ "${runs:-0}" -lt $LONG_RUNS ]; then rc=2; fi
  if [ $rc -eq 0 ]; then
    printf '%-24s ok     %10s runs  %s  %ss  %s/s\n' "$name" "${runs:-?}" "${cov:-}" "$secs" "$rate"
  else
    failed=1
    printf '%-24s FAILED %10s runs  %s  %ss  %s/s\n' "$name" "${runs:-?}" "${cov:-}" "$secs" "$rate"
    grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -5
  fi
  [ -n "${KJ_TOTALS:-}" ] && echo "$(( rc == 0 )) $(( rc != 0 ))" >>"$KJ_TOTALS"
done
exit $failed
