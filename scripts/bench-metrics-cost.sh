#!/usr/bin/env bash
# What the metrics engine costs ingest (issue 3's aim: under 30 % of the
# throughput). Three fresh daemons, sync: full: one with the engine, one with
# the engine and the demo's indicators (examples/demo.yaml: each group judges
# them for every scope it touched), and one built without the engine
# (build/bench/kinerjad-no-metrics); HTTP batches of 1,000 over 8
# connections, run in turn so that all see the same machine. Prints each run
# and the median costs. Asserts nothing.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${KJ_BENCH_SECONDS:-5}
rounds=${KJ_BENCH_ROUNDS:-5}
. scripts/bench-lib.sh # tmp, secret, digest, pids and their cleanup

# rate NAME TAG: one run; prints its lines, and on fd 3 its events/s and the
# writer thread's CPU per event (us)
rate() {
  local port pid out
  port=port_$1 pid=pid_$1
  out=$("$build/bench/bench_ingest" "${!port}" "$secret" 1000 8 "$secs" "$2" "${!pid}")
  sed "s/^/  $1: /" <<<"$out" >&2
  ingest_figures <<<"$out" | cut -d' ' -f1,2 >&3 || {
    echo "bench-metrics-cost: no figures from the run of '$1'" >&2
    exit 1
  }
}

awk '/^indicators:/ {on = 1; print; next} on && /^[A-Za-z_]+:/ {exit} on' examples/demo.yaml \
  >"$tmp/demo-indicators.yaml"
start_daemon with "$build/kinerjad"
start_daemon indicators "$build/kinerjad" "$tmp/demo-indicators.yaml"
start_daemon without "$build/bench/kinerjad-no-metrics"
echo "the metrics engine's cost: HTTP batches of 1,000 x 8, ${secs}s runs, in turn with it, with it and"
echo "the demo's $(grep -c '^  - id:' "$tmp/demo-indicators.yaml") indicators, and without it"
for d in with indicators without; do
  port=port_$d
  "$build/bench/bench_ingest" "${!port}" "$secret" 1000 8 1 warm >/dev/null
done
declare -A tag=([with]=w [indicators]=i [without]=n)  # each run's event ids its own
rows=()
for r in $(seq "$rounds"); do  # which goes first turns: all see a store as full
  order=(with indicators without)
  for ((k = 0; k < (r - 1) % 3; k++)); do order=("${order[@]:1}" "${order[0]}"); done
  for d in "${order[@]}"; do
    got=$(rate "$d" "${tag[$d]}$r" 3>&1 1>&2)  # a plain assignment: set -e sees rate fail
    printf -v "got_$d" %s "$got"
  done
  rows+=("$got_with $got_indicators $got_without")
done 2>&1
# per round: cost = 1 - (with or indicators)/without events/s; the writer's us/event of each
printf '%s\n' "${rows[@]}" | awk '
  function median(a, n,   i, j, t) {  # mawk has no asort
    for (i = 2; i <= n; i++)
      for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return a[int((n + 1) / 2)]
  }
  {
    w[NR] = 100 * (1 - $1 / $5); i[NR] = 100 * (1 - $3 / $5)
    line = line sprintf("%s%.1f / %.1f %% (%s / %s vs %s us)", NR > 1 ? ", " : "", w[NR], i[NR], $2, $4, $6)
  } END {
    n = NR; mw = median(w, n); mi = median(i, n)
    printf "metrics engine costs %.1f %% of the throughput, %.1f %% with the demo'"'"'s indicators\n", mw, mi
    printf "  (median of %d rounds; writer CPU per event with / with indicators vs without)\n", n
    print "  rounds: " line
  }'
