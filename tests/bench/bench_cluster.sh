#!/usr/bin/env bash
# tests/bench/bench_cluster.sh BUILD — make bench, cluster part (SPEC §17):
# acknowledged ingest through NATS JetStream. For R1 (one nats-server) and R3
# (three, routed on loopback), one kinerjad node with `cluster` (sync: full) is loaded by bench_ingest with
# batches of 1,000 (4 connections) and single events (32 connections); an
# answer comes only after JetStream's PubAck for every event of the request.
# Where the time goes: bench_ingest's latency is the publish round trip (the
# leader stores the message and, in R3, waits for a follower); beside it the
# CPU seconds of the node (publishing, the consumer applying the stream, the
# writer's commits) and of the NATS servers. Asserts nothing; skipped (with
# a line saying so) without nats-server.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
if ! command -v nats-server >/dev/null; then
  echo "cluster benchmark skipped: nats-server is not installed (scripts/deps.sh test)"
  exit 0
fi
secs=${KJ_BENCH_SECONDS:-5}
tmp=$(mktemp -d)
secret=bench-secret
digest=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  pids=()
}
trap 'cleanup; rm -rf "$tmp"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# CPU seconds (user + system) a process used so far.
cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# nats N: N servers with JetStream, routed when N > 1; sets urls and nats_pids.
nats() {
  local n=$1 i j
  local cports=() ports=()
  for ((i = 0; i < n; i++)); do ports+=("$(free_port)"); cports+=("$(free_port)"); done
  urls="" nats_pids=()
  for ((i = 0; i < n; i++)); do
    local conf="$tmp/r$n-n$i.conf" routes=""
    for ((j = 0; j < n; j++)); do
      [ "$j" = "$i" ] || routes="$routes${routes:+, }nats-route://127.0.0.1:${cports[$j]}"
    done
    {
      echo "server_name: n$i"
      echo "listen: 127.0.0.1:${ports[$i]}"
      echo "jetstream { store_dir: \"$tmp/r$n-n$i\" }"
      [ "$n" -gt 1 ] && echo "cluster { name: bench, listen: 127.0.0.1:${cports[$i]}, routes: [$routes] }"
    } >"$conf"
    nats-server -c "$conf" 2>"$tmp/r$n-n$i.log" &
    pids+=($!)
    nats_pids+=($!)
    urls="$urls${urls:+, }\"nats://127.0.0.1:${ports[$i]}\""
  done
  for p in "${ports[@]}"; do wait_port "$p"; done
}

# node R: one kinerjad on the cluster just started; sets port and pid.
node() {
  port=$(free_port)
  cat >"$tmp/node-r$1.yaml" <<YAML
listen: "127.0.0.1:$port"
state_dir: $tmp/node-r$1
sync: full
log_level: warn
tokens:
  - {name: bench, sha256: "$digest", role: ingest, units: "*"}
cluster:
  nats: [$urls]
  replicas: $1
  node: bench-r$1
YAML
  "$build/kinerjad" -c "$tmp/node-r$1.yaml" 2>"$tmp/node-r$1.log" &
  pid=$!
  pids+=($pid)
  wait_port "$port"
  # Ingest answers 503 until the stream exists (R3: until JetStream elected its leaders).
  for _ in $(seq 600); do
    curl -s "http://127.0.0.1:$port/healthz" | grep -q 'nats connected, lag' && return 0
    sleep 0.05
  done
  echo "node R$1 never connected:" >&2
  cat "$tmp/node-r$1.log" >&2
  return 1
}

echo "kinerja cluster ingest: HTTP POST, msgpack, answered after JetStream's ack, ${secs}s each"
for r in 1 3; do
  nats "$r"
  node "$r"
  before_node=$(cpu_s "$pid")
  before_nats=0
  for p in "${nats_pids[@]}"; do before_nats=$(echo "$before_nats + $(cpu_s "$p")" | bc); done
  # A run with answers other than 200 says so on its line; the next still runs.
  "$build/bench/bench_ingest" "$port" "$secret" 1000 4 "$secs" "r${r}-b1000" "$pid" || true
  "$build/bench/bench_ingest" "$port" "$secret" 1 32 "$secs" "r${r}-s1" "$pid" || true
  after_nats=0
  for p in "${nats_pids[@]}"; do after_nats=$(echo "$after_nats + $(cpu_s "$p")" | bc); done
  echo "  R$r: CPU seconds over both runs: kinerjad $(echo "$(cpu_s "$pid") - $before_node" | bc)," \
       "nats-server(s) $(echo "$after_nats - $before_nats" | bc)"
  curl -s "http://127.0.0.1:$port/healthz" | sed -n 's/^cluster: /  R'"$r"' node after the runs: /p'
  cleanup
done
