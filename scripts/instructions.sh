#!/usr/bin/env bash
# Instructions per hot-path call, ours against metrics-exporter-dogstatsd,
# counted by valgrind's callgrind (the same count whatever the load or the
# host): builds benches/instructions.rs in the release profile, runs it
# under callgrind, and prints each case's inclusive count divided by its
# calls. Sends only to 127.0.0.1.
#
#   scripts/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$bin" 2>"$out/valgrind.log" |
    tee "$out/stdout"
calls=$(sed -n 's/^instructions: \([0-9]*\) calls per case$/\1/p' "$out/stdout")
callgrind_annotate --inclusive=yes --threshold=100 "$out/cg.out" >"$out/annotated"
python3 - "$out/annotated" "$calls" <<'PY'
import re, sys
text, calls = open(sys.argv[1]).read(), int(sys.argv[2])
cases = [
    ("counter, cached handle (CounterHandle::increment)", "ours_counter_handle", None),
    ("counter through metrics::Counter", "ours_metrics_counter", "peer_metrics_counter"),
    ("gauge through metrics::Gauge (set)", "ours_metrics_gauge", "peer_metrics_gauge"),
    ("distribution, cached handle (DistributionHandle::record)", "ours_distribution_handle", None),
    ("distribution, cached handle, thinned at the source (level printed above)", "ours_distribution_thinned", None),
    ("histogram through metrics::Histogram", "ours_metrics_histogram", "peer_metrics_histogram"),
]
def ir(fn):
    m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*instructions::" + fn + r"\b", text, re.M)
    if not m:
        sys.exit(f"{fn} not found in callgrind's output")
    return int(m.group(1).replace(",", "")) / calls
peer_counter = ir("peer_metrics_counter")
peer_hist = ir("peer_metrics_histogram")
print("| case | ours | metrics-exporter-dogstatsd | ratio |")
print("|---|---|---|---|")
for label, ours, peer in cases:
    p = ir(peer) if peer else (peer_counter if "counter" in label else peer_hist)
    o = ir(ours)
    print(f"| {label} | {o:.1f} | {p:.1f} | {o / p:.2f}× |")
PY
