# shellcheck shell=bash
# Sourced by the bench scripts that run daemons side by side: each daemon on a
# free loopback port with its own state under $tmp, stopped by its PID; and the
# figures of one bench_ingest run. Sourcing it makes $tmp (removed at exit
# with every daemon in pids), the ingest token $secret and its sha256 $digest.

tmp=$(mktemp -d)
secret=bench-secret
digest=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_daemon NAME BINARY [EXTRA_YAML]: a daemon with state in $tmp/NAME;
# sets port_NAME and pid_NAME.
start_daemon() {
  local name=$1 bin=$2 extra=${3:-/dev/null} port
  port=$(free_port)
  cat >"$tmp/$name.yaml" <<YAML
listen: "127.0.0.1:$port"
state_dir: $tmp/$name
web_root: ./web
sync: full
log_level: warn
max_connections: 4096
tokens:
  - {name: bench, sha256: "$digest", role: ingest, units: "*"}
YAML
  cat "$extra" >>"$tmp/$name.yaml"
  "$bin" -c "$tmp/$name.yaml" 2>"$tmp/$name.log" &
  pids+=($!)
  printf -v "pid_$name" %s "$!"
  printf -v "port_$name" %s "$port"
  wait_port "$port" "the daemon '$name'" "$tmp/$name.log"
}

# wait_port PORT WHAT LOG: waits for a server's port on loopback (a benchmark,
# not a test: polls for 30 s), else prints its LOG and exits.
wait_port() {
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.05
  done
  echo "$(basename "$0"): $2 did not open its port; its log:" >&2
  cat "$3" >&2
  exit 1
}

# stop_daemon NAME: stops the daemon (or peer) started as NAME, forgets its
# PID (which the system may give to another process) and removes its state
# ($tmp/NAME) and files.
stop_daemon() {
  local pid=pid_$1 p left=()
  kill "${!pid}" 2>/dev/null || true
  wait "${!pid}" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "${!pid}" ] || left+=("$p"); done
  pids=("${left[@]}")
  rm -rf "${tmp:?}/$1" "$tmp/$1.yaml" "$tmp/$1.log"
}

# ingest_figures: bench_ingest's output on stdin; prints its events/s, the
# writer thread's and the whole daemon's CPU per event (us) and p99 (ms).
ingest_figures() {
  awk '/events\/s/ && !r {
         for (i = 2; i <= NF; i++) {
           if ($i == "events/s") r = $(i - 1)
           if ($i == "p99") p = $(i + 1)
         }
       }
       match($0, /daemon: [0-9.]+/) { d = substr($0, RSTART + 8, RLENGTH - 8) }
       match($0, /writer thread [0-9.]+/) { u = substr($0, RSTART + 14, RLENGTH - 14) }
       END { if (r > 0 && u != "") print r, u, d, p; else exit 1 }'
}

# median: the median of the numbers on stdin, one a line (mawk has no asort).
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.10g\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
