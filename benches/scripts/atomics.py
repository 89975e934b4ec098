#!/usr/bin/env python3
"""Counts the atomic read-modify-writes a benchmark iteration executes, by function.

Callgrind counts a `lock`-prefixed instruction (an atomic `fetch_add`, a compare-and-swap, an
`Arc` clone or drop, a mutex) as one instruction, like a register move, but on x86 each one
drains the store buffer before it completes: some 20 cycles on recent Intel cores by published
instruction tables.
Instruction counts therefore hide them; this script counts them. It reads a callgrind profile
made with per-instruction positions, finds which of the executed addresses hold a `lock`-prefixed
instruction or an `xchg` with memory (implicitly locked) in the binary's disassembly, and
divides their execution counts by the iterations: the calls of a function that runs once an
iteration.

    valgrind --tool=callgrind --dump-instr=yes --dump-line=no \\
        --toggle-collect='*Bencher*iter*' --callgrind-out-file=/tmp/cg.out \\
        target/release/deps/core-HASH --bench 'core/metrics$' --profile-time 2
    python3 benches/scripts/atomics.py target/release/deps/core-HASH /tmp/cg.out \\
        'ObservedRequest.*finish$'

Needs `objdump` (binutils). Prints the per-iteration count of each locked instruction and its
function, then the total.
"""
import collections
import re
import subprocess
import sys


def locked_addresses(binary):
    """Address → instruction text, for every locked instruction of the binary."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True
    ).stdout
    locked = {}
    for line in listing.splitlines():
        match = re.match(r"\s*([0-9a-f]+):\s+(.*)$", line)
        if not match:
            continue
        text = match.group(2)
        if text.startswith("lock ") or (text.startswith("xchg") and "(" in text):
            locked[int(match.group(1), 16)] = text
    return locked


def read_profile(path, locked):
    """(function, instruction) → executions of locked instructions; function → calls."""
    names, executions, calls = {}, collections.Counter(), collections.Counter()

    def name(field):
        match = re.match(r"\((\d+)\)(?: (.*))?", field)
        if not match:
            return field
        if match.group(2):
            names[match.group(1)] = match.group(2)
        return names.get(match.group(1), field)

    function, callee, address, after_calls = None, None, 0, False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            function, after_calls = name(line[3:]), False
            continue
        if line.startswith("cfn="):
            callee = name(line[4:])
            continue
        if line.startswith(("cfi=", "cfl=", "cob=", "ob=", "fl=", "fi=", "fe=")):
            continue
        if line.startswith("calls="):
            calls[callee] += int(line[6:].split()[0])
            after_calls = True
            continue
        match = re.match(r"^(0x[0-9a-f]+|\+\d+|-\d+|\*)\s+(\d+)?", line)
        if not match:
            continue
        position = match.group(1)
        if position.startswith("0x"):
            address = int(position, 16)
        elif position.startswith("+"):
            address += int(position[1:])
        elif position.startswith("-"):
            address -= int(position[1:])
        if after_calls:  # the call's inclusive cost, not the instruction's own
            after_calls = False
            continue
        if address in locked and match.group(2):
            executions[(function, locked[address])] += int(match.group(2))
    return executions, calls


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, profile, once_per_iteration = sys.argv[1:]
    executions, calls = read_profile(profile, locked_addresses(binary))
    pattern = re.compile(once_per_iteration)
    iterations = sum(n for function, n in calls.items() if pattern.search(function))
    if iterations == 0:
        sys.exit(f"no call of a function matching {once_per_iteration!r} in {profile}")
    for (function, text), count in executions.most_common():
        if count / iterations >= 0.01:
            print(f"{count / iterations:6.2f}  {text[:36]:36s}  {function[:110]}")
    print(f"{sum(executions.values()) / iterations:6.2f}  locked instructions an iteration "
          f"({iterations} iterations)")


if __name__ == "__main__":
    main()
