#!/usr/bin/env bash
# Side-by-side figures for one EAGLE-3 training step (issue 9 closing note):
# BenchmarkTrainStep (model/eagle3, Go) against the same step in PyTorch
# eager f32 (model/eagle3/testdata/bench_step.py, Debian python3-torch,
# torch.set_num_threads(2)), alternating runs in one session and printing
# medians, the tokens/s ratio and the CPU-time ratio (the fairer figure on a
# shared machine, where wall time includes waiting for a core).
#
#   scripts/bench_eagle3.sh [ROUNDS] [STEPS] [T]      (defaults 3, 2, 2048)
#
# Config: hidden 1024, 8 heads of 128 (4 KV), MLP 3072, vocab 32000, draft
# vocab 8192, 1 layer, 4 documents packed, 3 TTT steps, window 2048, kl_div.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-2}
T=${3:-2048}
. scripts/lib.sh
need_torch bench_eagle3
set_openblas_coretype
echo "bench_eagle3: T=$T, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}, $(machine_load)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/eagle3.test" ./model/eagle3
out=$tmp/results
for r in $(seq 1 "$rounds"); do
	echo "round $r/$rounds" >&2
	EAGLE3_BENCH_T=$T "$tmp/eagle3.test" -test.run '^$' -test.bench '^BenchmarkTrainStep$' -test.benchtime "${steps}x" |
		bench_step_json BenchmarkTrainStep >>"$out"
	printf 'torch %s\n' "$($py model/eagle3/testdata/bench_step.py --T "$T" --steps "$steps" --warmup 1 --threads 2 --json 2>/dev/null)" >>"$out"
done
$py - "$out" "$rounds" "$steps" "$T" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, v = line.split(" ", 1)
    rows.setdefault(k, []).append(json.loads(v))
T = int(sys.argv[4])
ms = {k: statistics.median(r["step_ms"] for r in v) for k, v in rows.items()}
cpu = {k: statistics.median(r["step_cpu_ms"] for r in v) for k, v in rows.items()}
print("EAGLE-3 training step, hidden 1024, 8 heads, MLP 3072, draft vocab 8192, T=%d, 3 TTT steps" % T)
print("medians over %s rounds of %s steps each" % (sys.argv[2], sys.argv[3]))
print("%-36s %12s %10s %14s" % ("stack", "tokens/s", "step ms", "step CPU ms"))
names = {"go": "Go (BenchmarkTrainStep)", "torch": "PyTorch f32 eager, 2 threads"}
for k in ("go", "torch"):
    print("%-36s %12.0f %10.0f %14.0f" % (names[k], T / ms[k] * 1e3, ms[k], cpu[k]))
print("tokens/s ratio Go / PyTorch:        %.2f" % (ms["torch"] / ms["go"]))
print("CPU time per step, PyTorch / Go:    %.2f" % (cpu["torch"] / cpu["go"]))
PY
