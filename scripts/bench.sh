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
echo "kinerja ingest benchmark: HTTP POST, msgpack, sync: full, $(nproc) cores, ${secs}s each"
"$build/bench/bench_ingest" "$port" "$secret" 1 32 "$secs" s1 "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 100 8 "$secs" s100 "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 1000 4 "$secs" s1000 "$pid"
"$build/bench/bench_ingest" "$port" "$secret" 1000 8 "$secs" s1000b "$pid"

echo
scripts/bench-metrics-cost.sh "$build"

echo
tests/bench/bench_cluster.sh "$build"

echo
echo "kinerja live feed: event-to-viewer latency at 10,000 events/s (coalescing: min_push_interval_ms 50)"
for v in 1 100 1000; do
  "$build/bench/bench_live" "$port" "$pid" "$vsecret" "$secret" "$v" 10000 "$secs"
done

echo
echo "libkinerja: kinerja post of ${KJ_BENCH_EVENTS:-1000000} events"
KINERJA_URL="http://127.0.0.1:$port" KINERJA_TOKEN="$secret" "$build/bench/bench_post"
[ -x "$build/bench/bench_metrics" ] && { echo; "$build/bench/bench_metrics"; }

echo
echo "kinerja at office scale: ${KJ_BENCH_MONTH_EVENTS:-1000000} events stored, then a restart"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$tmp/state"
/usr/bin/python3 tests/bench/bench_restart.py "$build/kinerjad" "$tmp/kinerjad.yaml" "$port" "$secret" "$vsecret"
