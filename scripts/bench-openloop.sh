#!/usr/bin/env bash
# make bench-openloop: request latency at fixed offered rates (open loop), for
# kinerjad (sync: full) and, when redis-server is installed, Redis with
# appendfsync always — the better peer of batched ingest. Each rate runs on a
# fresh kinerjad, then a fresh Redis, so both start empty. Prints figures,
# asserts nothing.
#
#   scripts/bench-openloop.sh [BUILD]
#   RATES="100000 300000" BATCH=1000 CONNS=32 SECS=5 scripts/bench-openloop.sh
#   KJ_BENCH_FORMAT=json scripts/bench-openloop.sh   # kinerjad posts JSON (Redis: XADD alike)
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
rates=${RATES:-"100000 200000 300000 400000"}
batch=${BATCH:-1000}
conns=${CONNS:-32}
secs=${SECS:-5}

# start_redis: a redis-server on a free loopback port, its data in $tmp/redis;
# sets port_redis and pid_redis.
start_redis() {
  port_redis=$(free_port)
  mkdir -p "$tmp/redis"
  redis-server - >"$tmp/redis.log" 2>&1 <<CONF &
bind 127.0.0.1
port $port_redis
daemonize no
dir $tmp/redis
appendonly yes
appendfsync always
save ""
CONF
  pid_redis=$!
  pids+=("$pid_redis")
  for _ in $(seq 200); do # wait for the port (a benchmark, not a test)
    (exec 3<>"/dev/tcp/127.0.0.1/$port_redis") 2>/dev/null && return
    sleep 0.05
  done
  echo "bench-openloop: redis-server did not open its port; its log:" >&2
  cat "$tmp/redis.log" >&2
  exit 1
}

stop_redis() {
  local p left=()
  kill "$pid_redis" 2>/dev/null || true
  wait "$pid_redis" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "$pid_redis" ] || left+=("$p"); done
  pids=("${left[@]}")
  rm -rf "${tmp:?}/redis"
}

echo "open-loop latency: batches of $batch on up to $conns connections, ${secs}s a rate;"
echo "latency runs from when a request fell due (a wait for an idle connection counts)"
have_redis=1
command -v redis-server >/dev/null || {
  have_redis=0
  echo "(redis-server is not installed: kinerjad only; apt-get install redis-server to compare)"
}
for rate in $rates; do
  start_daemon k "$build/kinerjad"
  # shellcheck disable=SC2154 # set by start_daemon
  "$build/bench/bench_openloop" kinerjad "$port_k" "$secret" "$batch" "$conns" "$rate" "$secs" \
    "$pid_k" || true
  stop_daemon k
  [ "$have_redis" = 1 ] || continue
  start_redis
  "$build/bench/bench_openloop" redis "$port_redis" - "$batch" "$conns" "$rate" "$secs" \
    "$pid_redis" || true
  stop_redis
done
