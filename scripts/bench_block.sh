#!/usr/bin/env bash
# Side-by-side figures for the decoder-block training step (go-stack.md §3):
# `speculators bench block` (Go kernels) against the same workload in PyTorch
# f32 (testdata/bench/bench_block.py, Debian python3-torch), alternating runs
# in one session and printing medians and the ratio.
#
#   scripts/bench_block.sh [ROUNDS] [STEPS]        (defaults 3 and 8)
#
# PyTorch runs with torch.set_num_threads(2) (the stated baseline) and also
# with 1 intra-op thread and OPENBLAS_NUM_THREADS=1, which go-stack.md found
# faster on this 2-core machine; the ratio is taken against the faster one.
# OpenBLAS (torch's BLAS on Debian) does not recognise the virtualized CPU and
# falls back to slow SSE3 kernels, so its core type is set from the CPU flags
# (unless OPENBLAS_CORETYPE is already set): the strongest PyTorch baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-8}
. scripts/lib.sh
need_torch bench_block
set_openblas_coretype
echo "bench_block: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}, $(machine_load)" >&2
bin=$(mktemp -d)/speculators
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/speculators
out=$(mktemp)
for r in $(seq 1 "$rounds"); do
	echo "round $r/$rounds" >&2
	printf 'go %s\n' "$("$bin" bench block --steps "$steps" --warmup 2 --json --quiet)" >>"$out"
	printf 'torch2 %s\n' "$($py testdata/bench/bench_block.py --steps "$steps" --warmup 2 --threads 2 --json 2>/dev/null)" >>"$out"
	printf 'torch1 %s\n' "$(OPENBLAS_NUM_THREADS=1 $py testdata/bench/bench_block.py --steps "$steps" --warmup 2 --threads 1 --json 2>/dev/null)" >>"$out"
done
$py - "$out" "$rounds" "$steps" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, v = line.split(" ", 1)
    rows.setdefault(k, []).append(json.loads(v))
names = {"go": "Go (speculators bench block)", "torch2": "PyTorch f32, set_num_threads(2)",
         "torch1": "PyTorch f32, 1 thread, OPENBLAS_NUM_THREADS=1"}
med = {k: statistics.median(r["tokens_per_s"] for r in v) for k, v in rows.items()}
ms = {k: statistics.median(r["step_ms"] for r in v) for k, v in rows.items()}
cpu = {k: statistics.median(r["step_cpu_ms"] for r in v) for k, v in rows.items()}
print("decoder-block training step, hidden 512, seq 512, 8 heads, MLP 1536, 8192 classes")
print("medians over %s rounds of %s steps each (each run's figure is itself a median)" % (sys.argv[2], sys.argv[3]))
print("%-48s %12s %10s %14s" % ("stack", "tokens/s", "step ms", "step CPU ms"))
for k in ("go", "torch2", "torch1"):
    print("%-48s %12.0f %10.1f %14.1f" % (names[k], med[k], ms[k], cpu[k]))
best = max(med["torch2"], med["torch1"])
print("tokens/s ratio Go / PyTorch(2 threads): %.2f" % (med["go"] / med["torch2"]))
print("tokens/s ratio Go / best PyTorch:       %.2f" % (med["go"] / best))
print("CPU time per step, best PyTorch / Go:   %.2f" % (min(cpu["torch2"], cpu["torch1"]) / cpu["go"]))
PY
