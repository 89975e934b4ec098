#!/usr/bin/env bash
# Two builds of a demo under the same load, in one session: each round runs the uninstrumented
# demo (OCTOPUS_INSTRUMENT=off, from build B), build A instrumented and build B instrumented,
# in an order that rotates from round to round (off A B, A B off, B off A, ...): on this
# machine a run following another in the same round served up to 5 % less than the same run
# first (measured 2026-11-30: the same two builds gave A 0.871 / B 0.826 in one order and
# A 0.933 / B 0.865 swapped), so a fixed order biases the ratios; use a multiple of 3 rounds.
# Prints each round and the ratios (sum of instrumented ÷ sum of uninstrumented requests, the
# median of the rounds' ratios, and their mean with a 95 % confidence interval), and each
# run's demo CPU time per request (user + system from /proc, start-up included): the server's
# own cost, apart from the load generator's on the same cores.
#
#   benches/scripts/ab-load.sh BINARY_A BINARY_B [seconds per run] [rounds] [connections]
#   OCTOPUS_METRICS=none OTEL_SDK_DISABLED=true \
#       benches/scripts/ab-load.sh /tmp/before/axum-demo target/release/axum-demo 5 8
#
# Octopus's variables come from the environment, as in load.sh. Needs wrk. Bounded: rounds x 3
# runs of the given seconds, on loopback.
set -euo pipefail

a=$1
b=$2
seconds=${3:-5}
rounds=${4:-8}
connections=${5:-64}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

# shellcheck source=demo.sh
source "$(dirname "$0")/demo.sh"

ticks_per_second=$(getconf CLK_TCK)
run() { # binary mode → "requests/s µs-of-demo-CPU-per-request"
    local binary=$1 mode=$2 out ticks
    start_demo "$binary" "$mode" || exit 1
    out=$(wrk -t2 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$demo_port/hello/bob")
    # The demo's own CPU time (user + system, start-up included), read before it stops: what
    # a request costs the server, apart from what the load generator on the same cores spends.
    ticks=$(cpu_ticks "/proc/$demo_pid/stat")
    kill -TERM "$demo_pid"; wait "$demo_pid" || true
    awk -v ticks="$ticks" -v hz="$ticks_per_second" '
        / requests in / {requests = $1}
        /^Requests\/sec:/ {rate = $2}
        END {printf "%s %.3f\n", rate, requests ? ticks / hz * 1e6 / requests : 0}' <<<"$out"
}

echo "A=$a B=$b seconds=$seconds rounds=$rounds connections=$connections"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
    declare -A got=()
    case $(( (round - 1) % 3 )) in
        0) order="off a b" ;;
        1) order="a b off" ;;
        *) order="b off a" ;;
    esac
    for what in $order; do
        case $what in
            off) got[off]=$(run "$b" off) ;;
            a) got[a]=$(run "$a" on) ;;
            b) got[b]=$(run "$b" on) ;;
        esac
    done
    read -r off cpu_off <<<"${got[off]}"
    read -r on_a cpu_a <<<"${got[a]}"
    read -r on_b cpu_b <<<"${got[b]}"
    unset got
    echo "$off $on_a $on_b $cpu_off $cpu_a $cpu_b" >>"$results"
    printf "round %d (%s): off %8.0f req/s %5.2f µs | A %8.0f (%.3f) %5.2f µs | B %8.0f (%.3f) %5.2f µs\n" \
        "$round" "$order" "$off" "$cpu_off" "$on_a" "$(echo "$on_a / $off" | bc -l)" "$cpu_a" \
        "$on_b" "$(echo "$on_b / $off" | bc -l)" "$cpu_b"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [[float(x) for x in line.split()] for line in open(sys.argv[1])]
off, a, b, cpu_off, cpu_a, cpu_b = ([row[i] for row in rows] for i in range(6))
# Student's t at 97.5 % for n - 1 degrees of freedom (n = 3 to 31 rounds; beyond, 2.04): the
# half-width of a 95 % confidence interval of the mean round ratio. Single rounds here swing by
# several points, so whether a target is met is read from that interval, not from one figure.
T975 = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14,
        2.13, 2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05,
        2.04]
for name, on, cpu in (("A", a, cpu_a), ("B", b, cpu_b)):
    ratios = [x / y for x, y in zip(on, off)]
    interval = ""
    if len(ratios) >= 3:
        t = T975[min(len(ratios) - 2, len(T975) - 1)]
        half = t * statistics.stdev(ratios) / len(ratios) ** 0.5
        mean = statistics.mean(ratios)
        interval = f"; mean of rounds {mean:.3f}, 95 % interval {mean - half:.3f}-{mean + half:.3f}"
    print(f"{name}: on/off {sum(on) / sum(off):.3f} (median of rounds "
          f"{statistics.median(ratios):.3f}{interval}); "
          f"median {statistics.median(on):.0f} req/s against {statistics.median(off):.0f} off; "
          f"demo CPU a request {statistics.median(cpu):.2f} µs against {statistics.median(cpu_off):.2f} "
          f"off (medians, {statistics.median(cpu) - statistics.median(cpu_off):+.2f} µs)")
PY
