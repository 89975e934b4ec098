#!/usr/bin/env python3
"""Regenerates the benchmark section of docs/benchmarks.md and the chart from criterion's own output.

    cargo bench -p octopus-benches          # writes target/criterion/**/new/estimates.json
    python3 benches/scripts/report.py       # rewrites docs/benchmarks.md between the markers
                                            # and benches/overhead.svg

Overhead is `setup - bare` of the same group in the same run; ratios compare times to bare and
Octopus's overhead to each peer's. Only the standard library is used.
"""

import datetime
import json
import os
import platform
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRITERION = os.path.join(ROOT, "target", "criterion")
PAGE = os.path.join(ROOT, "docs", "benchmarks.md")
SVG = os.path.join(ROOT, "benches", "overhead.svg")
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"

FRAMEWORKS = ["axum", "actix", "warp", "rocket"]
OCTOPUS_IDS = [
    "octopus_noop",
    "octopus_metrics",
    "octopus_tracing",
    "octopus_tracing_unsampled",
    "octopus_full",
    "octopus_metrics_owned",
]
# Measured on one thread and, as `{id}_2threads`, on two threads at once (time per request per
# thread): what threads cost each other, which one thread cannot show.
TWO_THREAD_IDS = ["bare", "octopus_noop", "octopus_metrics", "octopus_metrics_owned", "octopus_tracing"]
# Which Octopus set-up each peer is compared with.
PEER_COUNTERPART = {
    "peer_axum_prometheus": "octopus_metrics",
    "peer_axum_tracing_opentelemetry": "octopus_tracing",
    "peer_actix_web_prom": "octopus_metrics",
    "peer_actix_web_opentelemetry_tracing": "octopus_tracing",
    "peer_actix_web_opentelemetry_metrics": "octopus_metrics",
    "peer_actix_web_opentelemetry_full": "octopus_full",
    "peer_rocket_prometheus": "octopus_metrics",
}


def estimate_ns(group, bench_id):
    """The mean of the newest run, in nanoseconds, or None when it was not run."""
    path = os.path.join(CRITERION, group, bench_id, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["mean"]["point_estimate"]
    except FileNotFoundError:
        return None


def group_ids(group):
    folder = os.path.join(CRITERION, group)
    if not os.path.isdir(folder):
        return []
    return sorted(
        name
        for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name, "new", "estimates.json"))
    )


def floor_ids(group):
    """`floor_*`: a layer, middleware or fairing that does nothing — what any middleware costs
    in the framework (their `_2threads` twins excluded)."""
    return [i for i in group_ids(group) if i.startswith("floor_") and not i.endswith("_2threads")]


def fmt_ns(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def fmt_delta(ns):
    sign = "+" if ns >= 0 else "−"
    return sign + fmt_ns(abs(ns))


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def framework_rows(group):
    bare = estimate_ns(group, "bare")
    if bare is None:
        return None, []
    floors = floor_ids(group)
    ids = ["bare"] + floors + [i for i in OCTOPUS_IDS if estimate_ns(group, i) is not None]
    ids += [i for i in group_ids(group) if i.startswith("peer_")]
    rows = []
    for bench_id in ids:
        ns = estimate_ns(group, bench_id)
        overhead = ns - bare
        versus = ""
        if bench_id.startswith("peer_") and bench_id in PEER_COUNTERPART:
            ours = estimate_ns(group, PEER_COUNTERPART[bench_id])
            if ours is not None and overhead > 0:
                versus = f"Octopus `{PEER_COUNTERPART[bench_id]}` costs {(ours - bare) / overhead:.2f}× this overhead"
        rows.append((bench_id, ns, overhead, ns / bare, versus))
    return bare, rows


def markdown(results, when, where):
    out = [
        f"Measured {when} on {where}; `cargo bench -p octopus-benches` then "
        "`python3 benches/scripts/report.py` regenerates this section and the chart. Each "
        "benchmark is one in-process `GET /users/42` (request built, body read); overhead is the "
        "set-up minus `bare` in the same run.",
        "",
        "![overhead per request, Octopus beside its peers](../benches/overhead.svg)",
        "",
    ]
    for group, (bare, rows) in results.items():
        out += [f"**{group}**", "", "| id | time per request | overhead | × bare | against the peer |", "|---|---|---|---|---|"]
        for bench_id, ns, overhead, ratio, versus in rows:
            shown = "" if bench_id == "bare" else fmt_delta(overhead)
            out.append(f"| `{bench_id}` | {fmt_ns(ns)} | {shown} | {ratio:.2f} | {versus} |")
        out.append("")
        out += two_thread_table(group)
        out += new_paths_table(group)
    return "\n".join(out)


def two_thread_table(group):
    """Per request on one thread against two threads at once, with the overhead over bare."""
    rows = []
    floors = floor_ids(group)
    for bench_id in TWO_THREAD_IDS[:1] + floors + TWO_THREAD_IDS[1:]:
        one, two = estimate_ns(group, bench_id), estimate_ns(group, bench_id + "_2threads")
        if one is not None and two is not None:
            rows.append((bench_id, one, two))
    if not rows:
        return []
    bare = dict((i, (one, two)) for i, one, two in rows).get("bare")
    out = [
        "| id | 1 thread | 2 threads at once (per request per thread) | × 1 thread | overhead, 1 thread | overhead, 2 threads |",
        "|---|---|---|---|---|---|",
    ]
    for bench_id, one, two in rows:
        over = ("", "") if bench_id == "bare" or bare is None else (fmt_delta(one - bare[0]), fmt_delta(two - bare[1]))
        out.append(f"| `{bench_id}` | {fmt_ns(one)} | {fmt_ns(two)} | {two / one:.2f} | {over[0]} | {over[1]} |")
    return out + [""]


def new_paths_table(group):
    """A new path every request (`{id}_new_paths`), where an adapter remembers routes by path
    (actix): the overhead over `bare_new_paths`, the same requests without Octopus."""
    bare = estimate_ns(group, "bare_new_paths")
    if bare is None:
        return []
    out = [
        "A new path every request (`/users/1`, `/users/2`, …): what a path never seen before costs.",
        "",
        "| id | time per request | overhead over `bare_new_paths` |",
        "|---|---|---|",
        f"| `bare_new_paths` | {fmt_ns(bare)} |  |",
    ]
    for bench_id in group_ids(group):
        if bench_id.endswith("_new_paths") and bench_id != "bare_new_paths":
            ns = estimate_ns(group, bench_id)
            out.append(f"| `{bench_id}` | {fmt_ns(ns)} | {fmt_delta(ns - bare)} |")
    return out + [""]


def svg(results, when, where):
    """A horizontal bar chart: overhead per set-up, one block per framework."""
    bars = []
    for group, (_bare, rows) in results.items():
        for bench_id, _ns, overhead, _ratio, _versus in rows:
            if bench_id != "bare":
                bars.append((group, bench_id, max(overhead, 0.0)))
    if not bars:
        return None
    width, left, bar_h, gap = 900, 330, 16, 4
    top = 50
    height = top + len(bars) * (bar_h + gap) + 40
    scale = (width - left - 90) / max(b[2] for b in bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="15" font-weight="bold">Per-request overhead against the bare framework (lower is better)</text>',
        f'<text x="10" y="38" fill="#555">{when} · {where}</text>',
    ]
    y = top
    for group, bench_id, overhead in bars:
        colour = "#2b7bb9" if bench_id.startswith("octopus") else "#b0b0b0"
        parts.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{group} / {bench_id}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{overhead * scale:.1f}" height="{bar_h}" fill="{colour}"/>')
        parts.append(f'<text x="{left + overhead * scale + 6:.1f}" y="{y + 12}">{fmt_delta(overhead)}</text>')
        y += bar_h + gap
    parts.append(f'<text x="{left}" y="{y + 24}" fill="#555">blue: Octopus · grey: peer crates</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    results = {}
    for group in FRAMEWORKS:
        bare, rows = framework_rows(group)
        if bare is not None:
            results[group] = (bare, rows)
    if not results:
        sys.exit(f"no criterion results under {CRITERION}: run `cargo bench -p octopus-benches` first")
    when = datetime.date.today().isoformat()
    where = machine()
    section = markdown(results, when, where)
    with open(PAGE) as f:
        readme = f.read()
    if START not in readme or END not in readme:
        sys.exit(f"docs/benchmarks.md has no {START} … {END} markers")
    readme = re.sub(
        re.escape(START) + ".*?" + re.escape(END),
        lambda _: f"{START}\n{section}\n{END}",
        readme,
        flags=re.S,
    )
    with open(PAGE, "w") as f:
        f.write(readme)
    chart = svg(results, when, where)
    with open(SVG, "w") as f:
        f.write(chart)
    print(f"docs/benchmarks.md and {os.path.relpath(SVG, ROOT)} updated from {len(results)} groups")


if __name__ == "__main__":
    main()
