#!/usr/bin/env bash
# make run-cluster: kinerja's cluster mode on one machine (SPEC §17) — one
# nats-server with JetStream (a single server: the stream has one replica),
# two kinerjad nodes with the demo configuration on 127.0.0.1:7071 and :7072,
# simulated counters posting to the first, and both dashboards' URLs: what
# is posted to one node shows on the other. Ctrl-C stops everything cleanly.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
command -v nats-server >/dev/null || {
  echo "make run-cluster needs nats-server (Debian: apt-get install nats-server," >&2
  echo "or scripts/deps.sh test)." >&2
  exit 1
}
dir=var/cluster
nats_port=14222
mkdir -p "$dir"

pids=()
sim=
stop() {
  trap - INT TERM
  [ -n "$sim" ] && kill -INT "$sim" 2>/dev/null && wait "$sim" 2>/dev/null
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do  # the nodes first, NATS last
    kill -TERM "${pids[$i]}" 2>/dev/null
    wait "${pids[$i]}" 2>/dev/null
  done
  echo "kinerja cluster demo stopped."
  exit 0
}
trap stop INT TERM

# Waits until something listens on port $1, or process $2 has exited.
wait_port() {
  for _ in $(seq 200); do
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; echo "$4 did not start (see above)." >&2; stop; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
}

nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$dir/nats" -n kinerja-demo 2>"$dir/nats.log" &
pids+=($!)
wait_port "$nats_port" "${pids[0]}" "$dir/nats.log" nats-server

# Each node: the demo configuration with its own port, state_dir and name.
for n in a b; do
  port=$([ $n = a ] && echo 7071 || echo 7072)
  sed -E "s|^listen:.*|listen: \"127.0.0.1:$port\"|; s|^state_dir:.*|state_dir: ./$dir/node-$n|" \
    examples/demo.yaml >"$dir/node-$n.yaml"
  cat >>"$dir/node-$n.yaml" <<YAML

cluster:
  nats: ["nats://127.0.0.1:$nats_port"]
  replicas: 1
  node: node-$n
YAML
  "$build/kinerjad" -c "$dir/node-$n.yaml" 2>"$dir/node-$n.log" &
  pids+=($!)
  wait_port "$port" "${pids[-1]}" "$dir/node-$n.log" "kinerjad node-$n"
done

KINERJA_URL=http://127.0.0.1:7071 KINERJA_TOKEN=demo-ingest "$build/kinerja" simulate \
  --config examples/demo.yaml --backfill today &
sim=$!

cat <<MSG

  kinerja is running as two nodes over NATS JetStream.
    Node A (counters post here):  http://127.0.0.1:7071/?token=demo-viewer
    Node B (applies the stream):  http://127.0.0.1:7072/?token=demo-viewer
    Health and lag:               curl http://127.0.0.1:7072/healthz
    Logs:                         tail -f $dir/node-a.log $dir/node-b.log $dir/nats.log
  Simulated counters are posting events. Press Ctrl-C to stop.

MSG
wait "${pids[1]}"
stop
