#!/usr/bin/env bash
# make bench: start a daemon (sync: full) on a free port with a temporary
# state_dir, load it from this machine, and print figures. Asserts nothing.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=bench-secret
digest=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
cat >"$tmp/kinerjad.yaml" <<YAML
listen: "127.0.0.1:$port"
state_dir: $tmp/state
web_root: ./web
sync: full
log_level: warn
max_connections: 1024
tokens:
  - {name: bench, sha256: "$digest", role: ingest, units: "*"}
YAML
"$build/kinerjad" -c "$tmp/kinerjad.yaml" 2>"$tmp/log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 200); do  # wait for the port (a benchmark, not a test)
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
secs=${KJ_BENCH_SECONDS:-5}
echo "kinerja ingest benchmark: HTTP POST, msgpack, sync: full, $(nproc) cores, ${secs}s each"
"$build/bench/bench_ingest" "$port" "$secret" 1 32 "$secs" s1
"$build/bench/bench_ingest" "$port" "$secret" 100 8 "$secs" s100
"$build/bench/bench_ingest" "$port" "$secret" 1000 4 "$secs" s1000
"$build/bench/bench_ingest" "$port" "$secret" 1000 8 "$secs" s1000b
for b in "$build"/bench/bench_*; do
  case "$b" in */bench_ingest) continue ;; esac
  [ -x "$b" ] && "$b"
done
