#!/usr/bin/env bash
# make bench-openloop: request latency at fixed offered rates (open loop), for
# kinerjad (sync: full) and, when they are installed, its peers of durable
# batched ingest: Redis (appendfsync always) and InfluxDB (wal-fsync-delay 0s,
# an fsync before each answer). Each rate runs on a fresh kinerjad, then a
# fresh Redis, then a fresh influxd, so all start empty. A rate above a
# server's capacity measures the capacity (acknowledged/s). Prints figures,
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
  wait_port "$port_redis" redis-server "$tmp/redis.log"
}

# start_influx: an influxd with its files in $tmp/influx, HTTP on a free
# loopback port, database "bench"; sets port_influx and pid_influx.
start_influx() {
  port_influx=$(free_port)
  mkdir -p "$tmp/influx"
  cat >"$tmp/influx/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$(free_port)"
[meta]
  dir = "$tmp/influx/meta"
[data]
  dir = "$tmp/influx/data"
  wal-dir = "$tmp/influx/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$port_influx"
  log-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
CONF
  influxd run -config "$tmp/influx/influxdb.conf" >"$tmp/influx.log" 2>&1 &
  pid_influx=$!
  pids+=("$pid_influx")
  wait_port "$port_influx" influxd "$tmp/influx.log"
  curl -sS -m 10 -XPOST "http://127.0.0.1:$port_influx/query" \
    --data-urlencode "q=CREATE DATABASE bench" >/dev/null
}

echo "open-loop latency: batches of $batch on up to $conns connections, ${secs}s a rate;"
echo "latency runs from when a request fell due (a wait for an idle connection counts)"
peers=()
for p in redis:redis-server:redis-server influx:influxd:influxdb; do # name:program:package
  IFS=: read -r name program package <<<"$p"
  if command -v "$program" >/dev/null; then
    peers+=("$name")
  else
    echo "($program is not installed: no $name figures; apt-get install $package to compare)"
  fi
done
for rate in $rates; do
  start_daemon k "$build/kinerjad"
  # shellcheck disable=SC2154 # set by start_daemon
  "$build/bench/bench_openloop" kinerjad "$port_k" "$secret" "$batch" "$conns" "$rate" "$secs" \
    "$pid_k" || true
  stop_daemon k
  for p in "${peers[@]}"; do
    "start_$p"
    port=port_$p pid=pid_$p
    "$build/bench/bench_openloop" "$p" "${!port}" - "$batch" "$conns" "$rate" "$secs" "${!pid}" ||
      true
    stop_daemon "$p"
  done
done
