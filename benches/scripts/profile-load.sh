#!/usr/bin/env bash
# Where a demo's CPU goes under load: runs it under `wrk -t2 -c64` for 8 s and samples it with
# `perf record` over the middle 5 s, then writes the symbols by share of samples. Two runs
# (say, metrics only and tracing always on) compared symbol by symbol show what a setting costs
# under load, which criterion's one-request loop cannot: cache misses on memory another core
# wrote, the wait of a locked instruction for the stores before it.
#
#   benches/scripts/profile-load.sh LABEL BINARY [VARIABLE=value ...]
#   OUT=/tmp/profiles benches/scripts/profile-load.sh metrics target/release/axum-demo \
#       OTEL_SDK_DISABLED=true
#
# Writes $OUT/perf.LABEL.data, $OUT/top.LABEL.txt (perf report, by symbol, no children) and
# $OUT/wrk.LABEL.txt, and prints the requests a second and the sample count. The demo runs
# instrumented (OCTOPUS_INSTRUMENT=on) with the variables given. Needs wrk and perf
# (apt-get install wrk linux-perf); samples the cpu-clock event, so it works in virtual
# machines without hardware counters. Bounded: one 8 s run on loopback.
set -euo pipefail

label=$1
binary=$2
shift 2
out=${OUT:-/tmp/octopus-profiles}
mkdir -p "$out"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }

# shellcheck source=demo.sh
source "$(dirname "$0")/demo.sh"

start_demo "$binary" on "$@" || exit 1
wrk -t2 -c64 -d8s "http://127.0.0.1:$demo_port/hello/bob" >"$out/wrk.$label.txt" &
load=$!
sleep 1.5
perf record -F 2999 -p "$demo_pid" -o "$out/perf.$label.data" -- sleep 5 >/dev/null 2>&1
wait "$load"
kill -TERM "$demo_pid"
wait "$demo_pid" || true
perf report -i "$out/perf.$label.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' >"$out/top.$label.txt"
samples=$(perf report -i "$out/perf.$label.data" --stdio 2>/dev/null | grep '^# Samples' | head -1)
echo "$label: $(awk '/Requests\/sec/ {print $2}' "$out/wrk.$label.txt") requests/s; ${samples#\# }"
