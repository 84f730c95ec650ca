#!/usr/bin/env bash
# Two builds of kinerjad, run in turn on one ingest case: is a change faster?
#   scripts/bench-ab.sh BUILD_A BUILD_B [BATCH CONNS]     (default 1000 8)
# Each run starts a fresh daemon (an empty store: a daemon that has been
# loaded for long slows down on this kind of machine) from BUILD/kinerjad and
# loads it with BUILD_B's bench_ingest, so that only the daemon differs.
# Pairs alternate AB, BA, ... so that a drift of the machine's speed falls on
# both. On a shared virtual machine one run's figure moves by ±15 %; the
# median of the pairs' ratios is the figure to quote, its range says how far
# to trust it. Environment: KJ_BENCH_PAIRS (8), KJ_BENCH_SECONDS (4),
# KJ_BENCH_FORMAT (msgpack | json) and KJ_BENCH_IDS (random) as bench_ingest.
# Asserts nothing.
set -euo pipefail
if [ $# -ne 2 ] && [ $# -ne 4 ]; then
  echo "usage: scripts/bench-ab.sh BUILD_A BUILD_B [BATCH CONNS]" >&2
  exit 2
fi
a=$(realpath "$1") b=$(realpath "$2")
batch=${3:-1000} conns=${4:-8}
for d in "$a" "$b"; do
  [ -x "$d/kinerjad" ] || { echo "bench-ab: no $d/kinerjad (make BUILD=$d)" >&2; exit 2; }
done
[ -x "$b/bench/bench_ingest" ] || { echo "bench-ab: no $b/bench/bench_ingest (make bench builds it)" >&2; exit 2; }
cd "$(dirname "$0")/.."
secs=${KJ_BENCH_SECONDS:-4}
pairs=${KJ_BENCH_PAIRS:-8}
. scripts/bench-lib.sh # tmp, secret, digest, pids and their cleanup

# run NAME BUILD TAG: one fresh daemon, one run; appends its figures to $tmp/NAME
run() {
  local out port pid
  start_daemon "$1" "$2/kinerjad"
  port=port_$1 pid=pid_$1
  out=$("$b/bench/bench_ingest" "${!port}" "$secret" "$batch" "$conns" "$secs" "$3" "${!pid}")
  stop_daemon "$1"
  sed "s/^/  $1: /" <<<"$out"
  ingest_figures <<<"$out" >>"$tmp/$1.figures" || {
    echo "bench-ab: no figures from the run of $1" >&2
    exit 1
  }
}

echo "A = $a, B = $b: batches of $batch on $conns connections, ${secs}s runs, $pairs pairs"
for p in $(seq "$pairs"); do
  if [ $((p % 2)) = 1 ]; then run A "$a" "a$p"; run B "$b" "b$p"; else run B "$b" "b$p"; run A "$a" "a$p"; fi
done

# column N of NAME's runs, one a line
col() { cut -d' ' -f"$2" "$tmp/$1.figures"; }
for s in A B; do
  printf '%s: median %s events/s (%s to %s), daemon %s us of CPU per event, writer %s, p99 %s ms\n' \
    "$s" "$(col $s 1 | median)" "$(col $s 1 | sort -g | head -1)" "$(col $s 1 | sort -g | tail -1)" \
    "$(col $s 3 | median)" "$(col $s 2 | median)" "$(col $s 4 | median)"
done
paste -d' ' <(col A 1) <(col B 1) | awk '{ print $2 / $1 }' >"$tmp/ratios"
printf 'B/A events/s, pair by pair: median %.3f (%.3f to %.3f)\n' "$(median <"$tmp/ratios")" \
  "$(sort -g "$tmp/ratios" | head -1)" "$(sort -g "$tmp/ratios" | tail -1)"
paste -d' ' <(col A 2) <(col B 2) | awk '{ print $2 / $1 }' >"$tmp/ratios"
printf 'B/A writer CPU per event, pair by pair: median %.3f (%.3f to %.3f)\n' \
  "$(median <"$tmp/ratios")" "$(sort -g "$tmp/ratios" | head -1)" "$(sort -g "$tmp/ratios" | tail -1)"
