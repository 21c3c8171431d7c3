#!/usr/bin/env bash
# Closing figure of `speculators datagen` (embedded): tokens/s of hidden-state
# generation for the ~100M-parameter Llama-shaped random checkpoint of
# scripts/bench_llama.sh (hidden 768, 12 layers), next to a plain PyTorch f32
# forward (prefill) of the same model over rows of the same length
# (testdata/bench/bench_llama.py), alternating in one session, medians over
# rounds; plus the bytes per token written.
#
#   scripts/bench_datagen.sh [ROUNDS] [ROWS] [SEQ]     (defaults 3, 16, 512)
#
# The Go figure is end to end: reading the prepared rows, batched prefill
# with capture of the aux layers [2, 6, 9] and layer 12, BF16 rounding,
# writing and fsyncing hs_{i}.safetensors, hashing for the manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
rows=${2:-16}
seq=${3:-512}
. scripts/lib.sh
need_torch bench_datagen
set_openblas_coretype
echo "bench_datagen: $(machine_load)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/speculators
go build -o "$bin" ./cmd/speculators
"$bin" bench llama --make-model "$tmp/model"
# Conversations long enough to fill SEQ tokens (the test tokenizer is byte-level).
$py - "$tmp/conv.jsonl" "$rows" "$seq" <<'PY'
import json, random, sys
random.seed(0)
words = ["alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "number", "seven", "light"]
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        text = lambda n: " ".join(random.choice(words) for _ in range(n))
        f.write(json.dumps({"messages": [{"role": "user", "content": text(int(sys.argv[3]) // 8)},
                                         {"role": "assistant", "content": text(int(sys.argv[3]) // 4)}]}) + "\n")
PY
"$bin" prepare --model "$tmp/model" --data "$tmp/conv.jsonl" --output "$tmp/prep" --seq-length "$seq" --quiet >/dev/null
out=$tmp/results
for r in $(seq 1 "$rounds"); do
	echo "round $r/$rounds" >&2
	rm -rf "$tmp/hs"
	"$bin" datagen --preprocessed-data "$tmp/prep" --output "$tmp/hs" --model "$tmp/model" 2>"$tmp/log"
	printf 'go %s\n' "$(tail -1 "$tmp/log")" >>"$out"
	printf 'torch2 %s\n' "$($py testdata/bench/bench_llama.py --model "$tmp/model" --prompt "$seq" --gen 2 --runs 1 --threads 2 --json)" >>"$out"
	printf 'torch1 %s\n' "$(OPENBLAS_NUM_THREADS=1 $py testdata/bench/bench_llama.py --model "$tmp/model" --prompt "$seq" --gen 2 --runs 1 --threads 1 --json)" >>"$out"
done
$py - "$out" "$rounds" "$seq" <<'PY'
import json, re, statistics, sys
go, t2, t1, bpt, ntok = [], [], [], [], []
for line in open(sys.argv[1]):
    k, v = line.split(" ", 1)
    if k == "go":
        m = re.search(r"(\d+) tokens at ([\d.]+) tokens/s, (\d+) bytes = (\d+) bytes/token", v)
        ntok.append(int(m.group(1))); go.append(float(m.group(2))); bpt.append(int(m.group(4)))
    else:
        (t2 if k == "torch2" else t1).append(json.loads(v)["prefill_tokens_per_s"])
med = statistics.median
print("~100M-parameter Llama (random weights), rows of %s tokens (%d tokens per run); medians over %s rounds" % (sys.argv[3], ntok[0], sys.argv[2]))
print("%-62s %14s" % ("stack", "tokens/s"))
print("%-62s %14.1f" % ("Go speculators datagen --model (end to end, files written)", med(go)))
print("%-62s %14.1f" % ("PyTorch f32 forward (prefill), set_num_threads(2)", med(t2)))
print("%-62s %14.1f" % ("PyTorch f32 forward (prefill), 1 thread, OPENBLAS_NUM_THREADS=1", med(t1)))
print("ratio Go datagen / PyTorch(2 threads) forward: %.2f; / best PyTorch: %.2f" % (med(go) / med(t2), med(go) / max(med(t2), med(t1))))
print("bytes per token written: %d (payload 4 slots x 768 x 2 B + 8 B token id = %d)" % (med(bpt), 4 * 768 * 2 + 8))
PY
