#!/usr/bin/env bash
# make bench: start a daemon (sync: full) on a free port with a temporary
# state_dir, load it from this machine, and print figures. Asserts nothing.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
ulimit -n 8192 2>/dev/null || true  # 1,000 viewers and the daemon's side of them
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=bench-secret
digest=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
vsecret=bench-viewer
vdigest=$(printf %s "$vsecret" | sha256sum | cut -d' ' -f1)
cat >"$tmp/kinerjad.yaml" <<YAML
listen: "127.0.0.1:$port"
state_dir: $tmp/state
web_root: ./web
sync: full
log_level: warn
max_connections: 4096
max_viewers: 2000
tokens:
  - {name: bench, sha256: "$digest", role: ingest, units: "*"}
  - {name: viewer, sha256: "$vdigest", role: viewer, units: "*"}
YAML
"$build/kinerjad" -c "$tmp/kinerjad.yaml" 2>"$tmp/log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 200); do  # wait for the port (a benchmark, not a test)
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
secs=${KJ_BENCH_SECONDS:-5}
# The daemon's own memory apart from the store's mapped pages (file-backed).
rss() { awk '/^RssAnon|^RssFile/ {printf "%s %d MiB  ", $1, $2 / 1024}' "/proc/$pid/status"; echo; }

echo "kinerja ingest benchmark: HTTP POST, sync: full, $(nproc) cores, ${secs}s each"
echo "(the cases of the peers' harness: batches of 1,000 on 8 and 32 connections, single events on 32)"
"$build/bench/bench_ingest" "$port" "$secret" 1 32 "$secs" s1 "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 100 8 "$secs" s100 "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 1000 4 "$secs" s1000 "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 1000 8 "$secs" s1000b "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 1000 32 "$secs" s1000c "$pid"
KJ_BENCH_FORMAT=json "$build/bench/bench_ingest" "$port" "$secret" 1000 8 "$secs" j1000b "$pid"
KJ_BENCH_FORMAT=json "$build/bench/bench_ingest" "$port" "$secret" 1000 32 "$secs" j1000c "$pid"
echo "the same batches at a fixed offered rate (open loop: latency from when each request fell due;"
echo "make bench-openloop runs more rates, and Redis and InfluxDB alike when installed)"
"$build/bench/bench_openloop" kinerjad "$port" "$secret" 1000 32 300000 "$secs" "$pid"
echo "batches of 1,000 on 8 connections with random ids (clients that send UUIDs): each id its own leaf"
KJ_BENCH_IDS=random "$build/bench/bench_ingest" "$port" "$secret" 1000 8 "$secs" r1000b "$pid"
echo "kinerja-ingest.v1: one event a frame on 32 connections, waiting for each ack (window 1)"
echo "and keeping 16 frames unacknowledged (the daemon's read-ahead per connection)"
"$build/bench/bench_wsingest" "$port" "$secret" 32 1 "$secs" "$pid"
"$build/bench/bench_wsingest" "$port" "$secret" 32 16 "$secs" "$pid"
echo -n "daemon memory after ingest: "; rss
echo "what the disk asks of each commit, where the daemon's store is (single events pay it per group)"
"$build/bench/bench_disk" "$tmp"

echo
scripts/bench-metrics-cost.sh "$build"

echo
tests/bench/bench_cluster.sh "$build"

echo
echo "kinerja live feed: event-to-viewer latency at 10,000 events/s (coalescing: min_push_interval_ms 50)"
echo "(0 viewers: the POST figures without fan-out, to compare with 1,000 viewers' ingest)"
for v in 0 1 100 1000; do
  "$build/bench/bench_live" "$port" "$pid" "$vsecret" "$secret" "$v" 10000 "$secs"
done
echo "the harness's case: 16 units, 160 changes/s (each unit's changes 100 ms apart: the leading edge)"
for v in 1 100; do
  KJ_BENCH_UNITS=16 "$build/bench/bench_live" "$port" "$pid" "$vsecret" "$secret" "$v" 160 "$secs"
done
echo -n "daemon memory with the viewers gone: "; rss

echo
echo "libkinerja: kinerja post of ${KJ_BENCH_EVENTS:-1000000} events"
KINERJA_URL="http://127.0.0.1:$port" KINERJA_TOKEN="$secret" "$build/bench/bench_post"
[ -x "$build/bench/bench_metrics" ] && { echo; "$build/bench/bench_metrics"; }
echo; "$build/bench/bench_store"

echo
echo "kinerja at office scale: ${KJ_BENCH_MONTH_EVENTS:-1000000} events stored, then a restart"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$tmp/state"
/usr/bin/python3 tests/bench/bench_restart.py "$build/kinerjad" "$tmp/kinerjad.yaml" "$port" "$secret" "$vsecret"

echo
echo "kinerja agency overview: 500 units, 100 live overview viewers (overview_interval_ms 1000)"
/usr/bin/python3 tests/bench/bench_overview.py "$build/kinerjad"

echo
/usr/bin/python3 tests/bench/bench_rapor.py "$build/kinerjad"
