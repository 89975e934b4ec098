# Sourced by load.sh and ab-load.sh: starts a demo on a random loopback port.
#
#   start_demo BINARY MODE [VARIABLE=value ...]    sets demo_port and demo_pid
#
# MODE is OCTOPUS_INSTRUMENT's (on, off). A demo that does not answer /health on its port within
# 5 s gets another port, up to three (an A/B run once got a demo that never answered: that run
# served nothing and the summary broke); then this prints a message naming the binary and
# returns 1.
start_demo() {
    local binary=$1 mode=$2
    shift 2
    for _ in 1 2 3; do
        demo_port=$((20000 + RANDOM % 20000))
        env OCTOPUS_ADDR="127.0.0.1:$demo_port" OCTOPUS_INSTRUMENT="$mode" "$@" \
            "$binary" >/dev/null 2>&1 &
        demo_pid=$!
        for _ in $(seq 50); do
            curl -sf "http://127.0.0.1:$demo_port/health" >/dev/null && return 0
            sleep 0.1
        done
        kill -TERM "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    done
    echo "$binary ($mode) did not answer /health on three ports" >&2
    return 1
}
