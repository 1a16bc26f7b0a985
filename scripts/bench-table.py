#!/usr/bin/env python3
"""Turns the output of the benches (criterion's text on stdout) into the
Markdown tables of docs/benchmarks.md: median per case and, for our cases,
the ratio to the best peer of the same group in the same run.

    PT_BENCH_QUICK=1 cargo bench --bench counter ... 2>&1 | tee bench.log
    python3 scripts/bench-table.py bench.log
"""

import re
import sys

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
TIME = re.compile(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]")
THRPT = re.compile(r"thrpt:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]")
# Peers of each group that do the same work as ours (a `tracing` span with no
# subscriber records nothing, so it is shown but not compared against).
PEERS = {
    "counter_increment": None,
    "counter_increment_2_threads": None,
    "gauge_set": None,
    "distribution_record": None,
    "callsite_lookup_2_tags": None,
    "stage_call": {
        "autometrics_style/metrics-exporter-dogstatsd",
        "cached_handles/metrics-exporter-dogstatsd/std_instant",
        "cached_handles/metrics-exporter-dogstatsd/quanta_raw",
        "tracing_instrument/fmt_sink",
    },
    "stage_span": {
        "tracing_instrument/tracing-opentelemetry",
        "tracing_instrument/tracing-opentelemetry_lean",
    },
    "stage_clock": set(),
    "udp_throughput": None,
}
# Groups compared with a common case of ours instead of peers: the case's
# ratio is to the case named by the function (same group, same run).
BASELINE = {
    "beyond_16_pipelines": lambda c: "stage_call/cached_pipeline",
    "beyond_64_threads": lambda c: c.rsplit("/", 1)[0] + "/own_shard",
}
# Our cases that are not compared with the group's metrics-only peers.
NOT_COMPARED = {"instrument_stage/init_subscriber": "traced: see stage_span"}


def parse(lines):
    results = {}  # group -> list of (case, ns, melem_per_s)
    name = None
    for line in lines:
        line = line.rstrip("\n")
        head = re.match(r"^([a-z_0-9]+)/(\S+)(\s+time:.*)?$", line)
        if head and not line.startswith("Benchmarking"):
            name = (head.group(1), head.group(2))
            rest = head.group(3) or ""
        else:
            rest = line
        if name is None:
            continue
        t = TIME.search(rest)
        if t:
            ns = float(t.group(1)) * UNITS[t.group(2)]
            results.setdefault(name[0], []).append([name[1], ns, None])
            continue
        r = THRPT.search(rest)
        if r and results.get(name[0]) and results[name[0]][-1][0] == name[1]:
            scale = {"Kelem/s": 1e-3, "Melem/s": 1.0, "Gelem/s": 1e3}[r.group(2)]
            results[name[0]][-1][2] = float(r.group(1)) * scale
            name = None
    return results


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.2f} ns"


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        results = parse(f)
    for group, cases in results.items():
        if group in BASELINE:
            base = {c[0]: c[1] for c in cases}
            print(f"\n**{group}**\n")
            print("| case | median | ratio to the common case |")
            print("|---|---|---|")
            for case, ns, _ in cases:
                b = base.get(BASELINE[group](case))
                ratio = "common case" if b == ns else (f"{ns / b:.2f}×" if b else "")
                print(f"| {case} | {fmt_ns(ns)} | {ratio} |")
            continue
        peers = PEERS.get(group)
        is_peer = (lambda c: c in peers) if peers is not None else (lambda c: not c.startswith("ours"))
        peer_cases = [c for c in cases if is_peer(c[0])]
        thrpt = group == "udp_throughput"
        print(f"\n**{group}**\n")
        if thrpt:
            print("| case | median time / 100 k points | points/s | ratio to best peer |")
            print("|---|---|---|---|")
        else:
            print("| case | median | ratio to best peer |")
            print("|---|---|---|")
        best = None
        if peer_cases:
            best = max(c[2] or 0 for c in peer_cases) if thrpt else min(c[1] for c in peer_cases)
        for case, ns, melem in cases:
            ratio = ""
            if case in NOT_COMPARED:
                ratio = NOT_COMPARED[case]
            elif case.startswith("ours") or case.startswith("instrument_stage"):
                if best:
                    ratio = f"{(melem or 0) / best:.2f}×" if thrpt else f"{ns / best:.2f}×"
            elif is_peer(case):
                ratio = "peer"
            if thrpt:
                print(f"| {case} | {fmt_ns(ns)} | {melem:.1f} M | {ratio} |")
            else:
                print(f"| {case} | {fmt_ns(ns)} | {ratio} |")


if __name__ == "__main__":
    main()
