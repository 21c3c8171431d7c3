#!/usr/bin/env bash
# Side-by-side figures for the embedded verifier runtime: prefill and decode
# tokens/s of `speculators bench llama` against the same ~100M-parameter
# Llama-shaped checkpoint (random weights, hidden 768, 12 layers, GQA 12/4,
# MLP 2048, vocab 32000, tied) run by a plain PyTorch f32 script with a
# key/value cache (testdata/bench/bench_llama.py), alternating in one session,
# medians over rounds; the checkpoint is bf16, and Go runs both with the bf16
# weights held as bf16 (its default) and widened to f32 at load. Also prints the decode's weight-streaming bandwidth as
# a fraction of the machine's measured copy bandwidth.
#
#   scripts/bench_llama.sh [ROUNDS] [PROMPT] [GEN]     (defaults 3, 128, 64)
#
# PyTorch runs with torch.set_num_threads(2) (the stated baseline) and with 1
# thread and OPENBLAS_NUM_THREADS=1 (often faster on this shared 2-core
# machine); OPENBLAS_CORETYPE is set from the CPU flags (scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
prompt=${2:-128}
gen=${3:-64}
. scripts/lib.sh
need_torch bench_llama
set_openblas_coretype
echo "bench_llama: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}, $(machine_load)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/speculators
go build -o "$bin" ./cmd/speculators
"$bin" bench llama --make-model "$tmp/model"
out=$tmp/results
for r in $(seq 1 "$rounds"); do
	echo "round $r/$rounds" >&2
	printf 'go %s\n' "$("$bin" bench llama --model "$tmp/model" --prompt "$prompt" --gen "$gen" --runs 1 --json)" >>"$out"
	printf 'gof32 %s\n' "$("$bin" bench llama --model "$tmp/model" --prompt "$prompt" --gen "$gen" --runs 1 --json --f32)" >>"$out"
	printf 'torch2 %s\n' "$($py testdata/bench/bench_llama.py --model "$tmp/model" --prompt "$prompt" --gen "$gen" --runs 1 --threads 2 --json)" >>"$out"
	printf 'torch1 %s\n' "$(OPENBLAS_NUM_THREADS=1 $py testdata/bench/bench_llama.py --model "$tmp/model" --prompt "$prompt" --gen "$gen" --runs 1 --threads 1 --json)" >>"$out"
done
$py - "$out" "$rounds" "$prompt" "$gen" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, v = line.split(" ", 1)
    rows.setdefault(k, []).append(json.loads(v))
names = {"go": "Go, bf16 weights held as bf16", "gof32": "Go, weights widened to f32 at load (--f32)", "torch2": "PyTorch f32, set_num_threads(2)",
         "torch1": "PyTorch f32, 1 thread, OPENBLAS_NUM_THREADS=1"}
med = lambda k, f: statistics.median(r[f] for r in rows[k])
print("~100M-parameter Llama (random weights), prefill %s tokens, decode %s tokens; medians over %s rounds"
      % (sys.argv[3], int(sys.argv[4]) - 1, sys.argv[2]))
print("%-48s %16s %16s" % ("stack", "prefill tok/s", "decode tok/s"))
for k in ("go", "gof32", "torch2", "torch1"):
    print("%-48s %16.1f %16.2f" % (names[k], med(k, "prefill_tokens_per_s"), med(k, "decode_tokens_per_s")))
for f, label in (("prefill_tokens_per_s", "prefill"), ("decode_tokens_per_s", "decode")):
    best = max(med("torch2", f), med("torch1", f))
    print("%s ratio Go / PyTorch(2 threads): %.2f; Go / best PyTorch: %.2f; Go f32 / best PyTorch: %.2f"
          % (label, med("go", f) / med("torch2", f), med("go", f) / best, med("gof32", f) / best))
print("Go (bf16) decode streams %.2f GB/s (weights + KV cache) = %.0f%% of measured copy bandwidth %.2f GB/s (read+write bytes),"
      % (med("go", "decode_gb_per_s"), 100 * med("go", "decode_bandwidth_fraction"), med("go", "copy_gb_per_s")))
print("  = %.0f%% of the streaming-read bandwidth %.2f GB/s of the decode kernel over a 1 GiB matrix"
      % (100 * med("go", "decode_read_fraction"), med("go", "read_gb_per_s")))
PY
