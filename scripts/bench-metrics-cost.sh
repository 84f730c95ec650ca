#!/usr/bin/env bash
# What the metrics engine costs ingest (issue 3's aim: under 30 % of the
# throughput). Two fresh daemons, sync: full, one with the engine and one
# built without it (build/bench/kinerjad-no-metrics); HTTP batches of 1,000
# over 8 connections, run alternately so that both see the same machine.
# Prints each run and the median cost. Asserts nothing.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${KJ_BENCH_SECONDS:-5}
rounds=${KJ_BENCH_ROUNDS:-5}
tmp=$(mktemp -d)
secret=bench-secret
digest=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME BINARY: a daemon on a free port; sets port_NAME and pid_NAME
start() {
  local name=$1 bin=$2 port
  port=$(free_port)
  cat >"$tmp/$name.yaml" <<YAML
listen: "127.0.0.1:$port"
state_dir: $tmp/$name
web_root: ./web
sync: full
log_level: warn
tokens:
  - {name: bench, sha256: "$digest", role: ingest, units: "*"}
YAML
  "$bin" -c "$tmp/$name.yaml" 2>"$tmp/$name.log" &
  pids+=($!)
  printf -v "pid_$name" %s "$!"
  printf -v "port_$name" %s "$port"
  for _ in $(seq 200); do  # wait for the port (a benchmark, not a test)
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
    sleep 0.05
  done
}

# rate NAME TAG: one run; prints its lines, and on fd 3 its events/s and the
# writer thread's CPU per event (us)
rate() {
  local port pid out
  port=port_$1 pid=pid_$1
  out=$("$build/bench/bench_ingest" "${!port}" "$secret" 1000 8 "$secs" "$2" "${!pid}")
  sed "s/^/  $1: /" <<<"$out" >&2
  awk '/events\/s/ {r = $5} /writer thread/ {u = $3} END {print r, u}' <<<"$out" >&3
}

start with "$build/kinerjad"
start without "$build/bench/kinerjad-no-metrics"
echo "the metrics engine's cost: HTTP batches of 1,000 x 8, ${secs}s runs, alternately with and without it"
"$build/bench/bench_ingest" "$port_with" "$secret" 1000 8 1 warm >/dev/null
"$build/bench/bench_ingest" "$port_without" "$secret" 1000 8 1 warm >/dev/null
rows=()
for r in $(seq "$rounds"); do  # which goes first alternates: both see a store as full
  if ((r % 2)); then
    w=$(rate with "w$r" 3>&1 1>&2)
    wo=$(rate without "n$r" 3>&1 1>&2)
  else
    wo=$(rate without "n$r" 3>&1 1>&2)
    w=$(rate with "w$r" 3>&1 1>&2)
  fi
  rows+=("$w $wo")
done 2>&1
# per round: cost = 1 - with/without events/s; the writer's us/event of both
printf '%s\n' "${rows[@]}" | awk '{
    cost[NR] = 100 * (1 - $1 / $3); line = line sprintf("%s%.1f %% (%s vs %s us)", NR > 1 ? ", " : "", cost[NR], $2, $4)
  } END {
    n = NR
    for (i = 2; i <= n; i++)  # mawk has no asort
      for (j = i; j > 1 && cost[j - 1] > cost[j]; j--) { t = cost[j]; cost[j] = cost[j - 1]; cost[j - 1] = t }
    printf "metrics engine costs %.1f %% of the throughput (median of %d rounds; writer CPU per event with vs without)\n", cost[int((n + 1) / 2)], n
    print "  rounds: " line
  }'
