#!/usr/bin/env bash
# thread-cpu.sh PID [SECONDS] — CPU of each thread of a running process over
# SECONDS (5), in ms a second: what the service thread (kinerjad) and the
# writer (kj-writer) each cost under a load that runs meanwhile (README, "The
# commit log, finished and measured"). Divide by the events or deliveries a
# second to get the cost of one.
set -euo pipefail
pid=${1:?usage: thread-cpu.sh PID [SECONDS]}
secs=${2:-5}
tick=$(getconf CLK_TCK)

snapshot() { # "tid name ticks" per thread
  local t
  for t in /proc/"$pid"/task/*; do
    # fields after the ")" that ends the name: utime and stime are 12th and 13th
    printf '%s %s %s\n' "${t##*/}" "$(cat "$t/comm")" \
      "$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')"
  done
}

before=$(snapshot)
sleep "$secs"
after=$(snapshot)
join <(sort <<<"$before") <(sort <<<"$after") |
  awk -v s="$secs" -v hz="$tick" '{printf "%-16s %8.1f ms/s\n", $2, ($5 - $3) * 1000 / hz / s}'
