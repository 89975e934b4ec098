#!/usr/bin/env python3
"""Instructions a request (or a span), counted by callgrind: figures that repeat on a noisy
machine, where criterion's times move by 20 % from run to run.

    python3 benches/scripts/instructions.py axum bare octopus_noop octopus_tracing
    python3 benches/scripts/instructions.py core tracing tracing_unsampled
    python3 benches/scripts/instructions.py --threads --per 'into_span_data$' \\
        core otlp_100_requests_flushed

Default: only the timed region of the benchmark's own thread is counted (criterion's `iter`
and `octopus_benches`' chunked loops, so no set-up), divided by the requests it ran: the calls
of `Runtime::block_on` in a framework group (one a request), of `RequestObserver::observe` in
`core`. `--per REGEX` names another function whose calls divide: the most calls of it in any
one thread. `--threads` counts every thread over the whole run, set-up included, and prints
each thread's total divided so: with `--per 'into_span_data$'` (called once a span on the
export thread), what the export thread, an exporter's runtime and a receiver spend a span in
`core/otlp_100_requests_flushed`; with `--per 'append_span$'`, the same for
`core/jaeger_100_requests_flushed`. Threads are numbered as callgrind saw them start.
`--inclusive REGEX` prints instead what each call of the matching functions costs with
their callees, in each thread: for a benchmark timed with `iter_batched`, whose timed call
cannot be told from its set-up by name, the function it times (`encode_buffered$` in
`core/jaeger_thrift_encode_100_server_spans`, 100 spans a call).

Builds the bench target first (`cargo bench --no-run`). Needs valgrind. Counts run with
`GLIBC_TUNABLES=glibc.malloc.tcache_count=200`, so that allocator refills, which fall on
different requests from run to run, do not move the figures. Bounded: `--profile-time`
seconds of criterion's loop per id (4 by default; valgrind runs it about 50 times slower).
Only the standard library is used.
"""

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The timed regions: criterion's `iter` (not `iter_custom`, which encloses the next ones: a
# nested toggle would switch counting off) and the chunked loops of the traced set-ups.
TIMED = ["criterion::bencher::Bencher<M>::iter", "octopus_benches::timed_in_chunks*"]
PER_REQUEST = {"core": r"RequestObserver::observe$"}
DEFAULT_PER = r"Runtime::block_on$"


def bench_binary(target):
    """The bench executable of `target`, built if needed."""
    built = subprocess.run(
        ["cargo", "bench", "-p", "octopus-benches", "--bench", target, "--no-run",
         "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in built.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["name"] == target:
            return message["executable"]
    sys.exit(f"no executable for bench target {target}")


def calls_and_totals(path, inclusive=None):
    """(calls by callee, total of the thread, inclusive instructions by callee) from a
    callgrind file written with --compress-strings=no: the line after `calls=` holds what
    the calls cost, callees included."""
    calls = collections.Counter()
    costs = collections.Counter()
    total = 0
    callee = None
    pending = False
    for line in open(path, errors="replace"):
        if line.startswith("cfn="):
            callee = line[4:].strip()
        elif line.startswith("calls="):
            calls[callee] += int(line[6:].split()[0])
            pending = True
        elif pending:
            pending = False
            fields = line.split()
            if inclusive and len(fields) > 1 and re.search(inclusive, callee):
                costs[callee] += int(fields[1])
        elif line.startswith("totals:"):
            total = int(line.split()[1])
    return calls, total, costs


def per_count(calls, pattern):
    """The most-called function matching `pattern` (an inlined caller can show up twice)."""
    found = [count for name, count in calls.items() if re.search(pattern, name)]
    return max(found) if found else 0


def count(binary, group, bench_id, per, threads, seconds, inclusive=None):
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind", "--tool=callgrind", "--separate-threads=yes",
            "--compress-strings=no", "--compress-pos=no",
            f"--callgrind-out-file={out}/cg.%p",
        ]
        if not threads and not inclusive:
            command += [f"--toggle-collect={name}" for name in TIMED]
        command += [binary, "--bench", "--profile-time", str(seconds),
                    f"^{re.escape(group)}/{re.escape(bench_id)}$"]
        env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.tcache_count=200")
        subprocess.run(command, cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # criterion's own process first (the lowest pid), its threads in order.
        files = sorted(glob.glob(f"{out}/cg.*-*"),
                       key=lambda p: [int(n) for n in re.findall(r"\d+", os.path.basename(p))])
        pid = os.path.basename(files[0]).split("-")[0]
        parsed = [(path, *calls_and_totals(path, inclusive)) for path in files
                  if os.path.basename(path).startswith(pid + "-")]
        if inclusive:
            lines = [f"{group}/{bench_id}"]
            for path, calls, _, costs in parsed:
                thread = os.path.basename(path).split("-")[1]
                for name, cost in costs.most_common():
                    lines.append(f"  thread {thread}: {cost / calls[name]:10.0f} a call, "
                                 f"{calls[name]} calls of {name[:100]}")
            return "\n".join(lines)
        # The most calls of `per` in any one thread: the main thread's requests, or the spans
        # the export thread encodes.
        requests = max(per_count(calls, per) for _, calls, _, _ in parsed)
        if requests == 0:
            sys.exit(f"{group}/{bench_id}: no call of {per!r}; name another with --per")
        if not threads:
            return f"{parsed[0][2] / requests:10.0f}  {group}/{bench_id}  ({requests} requests)"
        lines = [f"{group}/{bench_id}  ({requests} requests)"]
        for path, _, total, _ in parsed:
            thread = os.path.basename(path).split("-")[1]
            lines.append(f"  thread {thread}: {total / requests:10.0f}")
        return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("group", help="bench target and criterion group: core, axum, actix, ...")
    parser.add_argument("ids", nargs="+", help="benchmark ids in the group")
    parser.add_argument("--per", help="regex of the function called once a request")
    parser.add_argument("--threads", action="store_true",
                        help="count every thread, whole run, each divided by the requests")
    parser.add_argument("--inclusive", metavar="REGEX",
                        help="instead: what each call of the functions matching REGEX costs, "
                             "callees included, in every thread, over the whole run")
    parser.add_argument("--profile-time", type=float, default=4)
    args = parser.parse_args()
    binary = bench_binary(args.group)
    per = args.per or PER_REQUEST.get(args.group, DEFAULT_PER)
    for bench_id in args.ids:
        print(count(binary, args.group, bench_id, per, args.threads, args.profile_time,
                    args.inclusive), flush=True)


if __name__ == "__main__":
    main()
