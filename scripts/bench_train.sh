#!/usr/bin/env bash
# Side-by-side figures for one full training-loop step (issue 9 closing
# note): BenchmarkTrainLoopStep (train/, Go: forward, backward, clipping,
# Muon + AdamW) against the same step in PyTorch eager f32
# (train/testdata/bench_train_step.py, Debian python3-torch, 2 threads),
# alternating runs in one session and printing medians, the tokens/s ratio
# and the CPU-time ratio (the fairer figure on a shared machine).
#
#   scripts/bench_train.sh [ROUNDS] [STEPS] [T] [OPTIMIZER]   (defaults 3, 1, 2048, muon)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-1}
T=${3:-2048}
optim=${4:-muon}
. scripts/lib.sh
need_torch bench_train
set_openblas_coretype
echo "bench_train: T=$T, $optim, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}, $(machine_load)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/train.test" ./train
out=$tmp/results
for r in $(seq 1 "$rounds"); do
	echo "round $r/$rounds" >&2
	TRAIN_BENCH_T=$T TRAIN_BENCH_OPT=$optim "$tmp/train.test" -test.run '^$' -test.bench '^BenchmarkTrainLoopStep$' -test.benchtime "${steps}x" |
		bench_step_json BenchmarkTrainLoopStep >>"$out"
	printf 'torch %s\n' "$($py train/testdata/bench_train_step.py --T "$T" --steps "$steps" --warmup 1 --threads 2 --optimizer "$optim" --json 2>/dev/null)" >>"$out"
	echo "  $(tail -2 "$out" | tr '\n' ' ')" >&2
done
$py - "$out" "$rounds" "$steps" "$T" "$optim" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, v = line.split(" ", 1)
    rows.setdefault(k, []).append(json.loads(v))
T = int(sys.argv[4])
ms = {k: statistics.median(r["step_ms"] for r in v) for k, v in rows.items()}
cpu = {k: statistics.median(r["step_cpu_ms"] for r in v) for k, v in rows.items()}
print("EAGLE-3 training-loop step (forward, backward, clip, %s), hidden 1024, 8 heads, MLP 3072, draft vocab 8192, T=%d, 3 TTT steps" % (sys.argv[5], T))
print("medians over %s rounds of %s steps each" % (sys.argv[2], sys.argv[3]))
print("%-40s %12s %10s %14s" % ("stack", "tokens/s", "step ms", "step CPU ms"))
names = {"go": "Go (BenchmarkTrainLoopStep)", "torch": "PyTorch f32 eager, 2 threads"}
for k in ("go", "torch"):
    print("%-40s %12.1f %10.0f %14.0f" % (names[k], T / ms[k] * 1e3, ms[k], cpu[k]))
print("tokens/s ratio Go / PyTorch:        %.2f" % (ms["torch"] / ms["go"]))
print("CPU time per step, PyTorch / Go:    %.2f" % (cpu["torch"] / cpu["go"]))
PY
