# Sourced by load.sh, ab-load.sh, profile-load.sh and thread-cpu.sh: starts a demo on a random
# loopback port, and a Jaeger agent stand-in for its spans.
#
#   start_demo BINARY MODE [VARIABLE=value ...]    sets demo_port and demo_pid
#   start_jaeger_sink PORT                          sets sink_pid
#   cpu_ticks /proc/PID[/task/TID]/stat             prints user + system time, in clock ticks
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

# A Jaeger agent stand-in on 127.0.0.1:PORT that reads and drops datagrams, so exports cost what
# they cost (the send, and the receive on this machine, as a real agent's would). In the
# background, bound when this returns; the caller stops it.
start_jaeger_sink() {
    python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(('127.0.0.1', $1))
while True:
    s.recv(65536)
" &
    sink_pid=$!
    # Bound before it returns, so that its start-up is over before anyone reads its CPU time.
    local port_hex
    port_hex=$(printf '%04X' "$1")
    for _ in $(seq 50); do
        grep -q ":$port_hex " /proc/net/udp && return 0
        sleep 0.1
    done
    echo "the Jaeger agent stand-in did not bind 127.0.0.1:$1" >&2
    return 1
}

# A process's or thread's CPU time so far (user + system, in clock ticks) from its stat file.
# The fields are counted after the parenthesised name, which may itself hold spaces
# (utime and stime are the 14th and 15th fields of the whole line).
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$1"
}
