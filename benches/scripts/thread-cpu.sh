#!/usr/bin/env bash
# Where a demo's CPU goes under load, thread by thread: runs it (instrumented, unless
# OCTOPUS_INSTRUMENT=off is in the environment) under `wrk -t2 -c64` for the given seconds, reads each of its threads' user + system time from
# /proc before and after, and prints each thread's CPU a request (ns), grouped by thread name.
# Splits an always-on traced request's cost between the request threads (tokio or actix
# workers: the record, the hand-over) and the export thread (`octopus-spans`: conversion,
# batching, the datagram's send, the frees), which criterion's one-request loop, with its
# untimed flushes, cannot show.
#
#   benches/scripts/thread-cpu.sh BINARY [seconds] [VARIABLE=value ...]
#   benches/scripts/thread-cpu.sh target/release/axum-demo 8 OTEL_SDK_DISABLED=true
#   benches/scripts/thread-cpu.sh target/release/actix-demo 8 OTEL_TRACES_SAMPLER=always_on
#
# Spans go to a Jaeger agent stand-in on loopback that reads and drops datagrams (as in
# load.sh); its CPU is printed too. The variables go to the demo after the exporter's, so they
# can override them. Needs wrk. Bounded: one run of the given seconds, on loopback.
set -euo pipefail

binary=$1
seconds=${2:-8}
shift 2 || shift $#
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

# shellcheck source=demo.sh
source "$(dirname "$0")/demo.sh"

# Each thread's "tid name ticks", one a line.
threads() {
    local task
    for task in /proc/"$demo_pid"/task/*; do
        echo "${task##*/} $(cat "$task/comm") $(cpu_ticks "$task/stat")"
    done
}

sink_port=16832
start_jaeger_sink "$sink_port"
wrk_out=$(mktemp)
trap 'kill $sink_pid 2>/dev/null || true; rm -f "$wrk_out"' EXIT

start_demo "$binary" "${OCTOPUS_INSTRUMENT:-on}" OTEL_TRACES_EXPORTER=jaeger \
    OTEL_EXPORTER_JAEGER_AGENT_HOST=127.0.0.1 OTEL_EXPORTER_JAEGER_AGENT_PORT=$sink_port "$@" || exit 1
sink_before=$(cpu_ticks "/proc/$sink_pid/stat")
before=$(threads)
wrk -t2 -c64 -d"${seconds}s" "http://127.0.0.1:$demo_port/hello/bob" >"$wrk_out"
after=$(threads)
sink_after=$(cpu_ticks "/proc/$sink_pid/stat")
kill -TERM "$demo_pid"
wait "$demo_pid" || true
requests=$(awk '/requests in/ { print $1 }' "$wrk_out")
ticks=$(getconf CLK_TCK)
echo "requests: $requests ($(awk '/Requests\/sec/ { print $2 }' "$wrk_out") a second)"
join <(sort <<<"$before") <(sort <<<"$after") | awk -v n="$requests" -v hz="$ticks" \
    -v sink=$((sink_after - sink_before)) '
    { used[$2] += $5 - $3 }
    END {
        printf "%-20s %8.0f ns a request (not counted in all)\n", "(agent stand-in)", sink / hz * 1e9 / n
        for (name in used) {
            total += used[name]
            printf "%-20s %8.0f ns a request\n", name, used[name] / hz * 1e9 / n
        }
        printf "%-20s %8.0f ns a request\n", "all", total / hz * 1e9 / n
    }' | sort
