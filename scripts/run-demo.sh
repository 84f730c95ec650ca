#!/usr/bin/env bash
# make run: kinerjad with the demo configuration (examples/demo.yaml: three
# units of a kecamatan service office) on 127.0.0.1:7070, simulated counters
# posting beside it, and the dashboard's URL. Ctrl-C stops both cleanly.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
config=examples/demo.yaml
port=$(sed -nE 's/^listen: *"?[^:]+:([0-9]+)"?.*/\1/p' "$config")
url="http://127.0.0.1:${port}"

mkdir -p var
log=var/demo.log
"$build/kinerjad" -c "$config" 2>"$log" &
daemon=$!
sim=
stop() {
  trap - INT TERM
  [ -n "$sim" ] && kill -INT "$sim" 2>/dev/null && wait "$sim" 2>/dev/null
  kill -TERM "$daemon" 2>/dev/null
  wait "$daemon"
  echo "kinerja demo stopped."
  exit 0
}
trap stop INT TERM

for _ in $(seq 100); do  # wait for the port, or for the daemon to give up
  kill -0 "$daemon" 2>/dev/null || { cat "$log" >&2; echo "kinerjad did not start (see above)." >&2; exit 1; }
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# --backfill quarter: the quarter so far first (the same ids every run), with
# the supervisors' assessments, so the dashboard's charts have history, the
# rapor is full the moment it opens, and the overview (#/) shows units that
# need coaching (their waits missed the target day after day).
# Then the office's day goes on as its times come, in the configuration's
# timezone (nothing at night or at the weekend; a service every minute or two
# at a loket); the head of the unit answers alerts left standing for 10
# minutes and gives feedback (SPEC §16).
KINERJA_URL="$url" KINERJA_TOKEN=demo-ingest "$build/kinerja" simulate --config "$config" \
  --backfill quarter --supervisor-token demo-atasan --supervisor-after 10m &
sim=$!

cat <<MSG

  kinerja is running.
    Dashboard:      $url/?token=demo-viewer
    Supervisor:     $url/?token=demo-atasan   (acknowledge alerts, give feedback)
    Wallboard:      $url/?token=demo-viewer&wall=1
    Personal view:  $url/?token=demo-siti   (Siti Rahmawati)
    Rapor:          $url/?token=demo-viewer#/unit/pelayanan-terpadu/rapor
    Metrics:        curl -H 'Authorization: Bearer demo-admin' $url/metrics
    Daemon's log:   tail -f $log
  The quarter so far is loaded; simulated counters post events as the office's
  day goes on (office hours in the demo's timezone). Press Ctrl-C to stop.

MSG
wait "$daemon"
