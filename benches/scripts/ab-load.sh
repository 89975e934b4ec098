#!/usr/bin/env bash
# Two builds of a demo under the same load, in one session: each round runs the uninstrumented
# demo (OCTOPUS_INSTRUMENT=off, from build B), build A instrumented and build B instrumented,
# in an order that rotates from round to round (off A B, A B off, B off A, ...): on this
# machine a run following another in the same round served up to 5 % less than the same run
# first (measured 2026-11-30: the same two builds gave A 0.871 / B 0.826 in one order and
# A 0.933 / B 0.865 swapped), so a fixed order biases the ratios; use a multiple of 3 rounds.
# Prints each round and the ratios (sum of instrumented ÷ sum of uninstrumented requests, and
# the median of the rounds' ratios).
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

run() { # binary mode → requests/s
    local binary=$1 mode=$2 out
    start_demo "$binary" "$mode" || exit 1
    out=$(wrk -t2 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$demo_port/hello/bob")
    kill -TERM "$demo_pid"; wait "$demo_pid" || true
    awk '/^Requests\/sec:/ {print $2}' <<<"$out"
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
    off=${got[off]} on_a=${got[a]} on_b=${got[b]}
    unset got
    echo "$off $on_a $on_b" >>"$results"
    printf "round %d (%s): off %8.0f req/s | A %8.0f (%.3f) | B %8.0f (%.3f)\n" "$round" "$order" \
        "$off" "$on_a" "$(echo "$on_a / $off" | bc -l)" "$on_b" "$(echo "$on_b / $off" | bc -l)"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [[float(x) for x in line.split()] for line in open(sys.argv[1])]
off, a, b = ([row[i] for row in rows] for i in range(3))
for name, on in (("A", a), ("B", b)):
    print(f"{name}: on/off {sum(on) / sum(off):.3f} (median of rounds "
          f"{statistics.median(x / y for x, y in zip(on, off)):.3f}); "
          f"median {statistics.median(on):.0f} req/s against {statistics.median(off):.0f} off")
PY
