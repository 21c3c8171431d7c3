#!/usr/bin/env bash
# Conversion throughput and peak memory on a full-size source.
#
# Writes an EAGLE-3 source with Llama-3.1-8B shapes (float16, ~1.9 GB; the
# largest tensor is embed_tokens, 128256x4096 = 1.05 GB) into a temporary
# directory, then times, side by side and RUNS times each (median):
#   cp        cp of model.safetensors (page cache warm), then sync of the copy
#   convert   speculators convert --algorithm eagle3 --no-validate (the
#             writer fsyncs every file, as cp+sync does)
#   cast      the same with --dtype bfloat16 (every float element converted)
#   validate  the same with validation on
#   torch     the same source as pytorch_model.bin (written by Debian's
#             python3-torch when /usr/bin/python3 has torch; else skipped),
#             converted through the restricted unpickler, vs cp of that file
# and reports the throughput ratio convert/cp and the peak RSS of each
# convert (/usr/bin/time -v). Everything is deleted afterwards.
#
# Usage: scripts/bench_convert.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_convert.XXXXXX")
trap 'rm -rf "$work"' EXIT

go build -o "$work/speculators" ./cmd/speculators
go test ./convert -run '^TestWriteBenchSource$' -count=1 -args -bench-source="$work" >/dev/null
src="$work/src/model.safetensors"
bytes=$(stat -c %s "$src")
cat "$src" >/dev/null # warm the page cache

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_cmd LABEL CMD...: appends "seconds maxrss_kb" to $work/LABEL
time_cmd() {
	local label=$1
	shift
	/usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>"$work/log" || {
		cat "$work/log"
		exit 1
	}
	cat "$work/t" >>"$work/$label"
}

for i in $(seq "$runs"); do
	time_cmd cp sh -c "cp '$src' '$work/copy' && sync '$work/copy'"
	rm -f "$work/copy"
	time_cmd convert "$work/speculators" convert "$work/src" --algorithm eagle3 --verifier "$work/verifier" --output-path "$work/out" --no-validate
	rm -rf "$work/out"
	time_cmd cast "$work/speculators" convert "$work/src" --algorithm eagle3 --verifier "$work/verifier" --output-path "$work/out" --no-validate --dtype bfloat16
	rm -rf "$work/out"
done
time_cmd validate "$work/speculators" convert "$work/src" --algorithm eagle3 --verifier "$work/verifier" --output-path "$work/out"
rm -rf "$work/out"

labels="cp convert cast validate"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	mkdir -p "$work/srcbin"
	cp "$work/src/config.json" "$work/srcbin/"
	/usr/bin/python3 - "$work/srcbin/pytorch_model.bin" <<'PY'
import collections, sys, torch
H, I, V, VD = 4096, 14336, 128256, 32000
shapes = collections.OrderedDict([
    ("embed_tokens.weight", (V, H)), ("fc.weight", (H, 3 * H)), ("norm.weight", (H,)), ("lm_head.weight", (VD, H)),
    ("midlayer.hidden_norm.weight", (H,)), ("midlayer.input_layernorm.weight", (H,)),
    ("midlayer.post_attention_layernorm.weight", (H,)), ("midlayer.self_attn.q_proj.weight", (H, 2 * H)),
    ("midlayer.self_attn.k_proj.weight", (1024, 2 * H)), ("midlayer.self_attn.v_proj.weight", (1024, 2 * H)),
    ("midlayer.self_attn.o_proj.weight", (H, H)), ("midlayer.mlp.gate_proj.weight", (I, H)),
    ("midlayer.mlp.up_proj.weight", (I, H)), ("midlayer.mlp.down_proj.weight", (H, I))])
sd = collections.OrderedDict((k, torch.empty(s, dtype=torch.float16).uniform_(-1, 1)) for k, s in shapes.items())
sel = torch.arange(VD) * 4
sd["d2t"] = sel - torch.arange(VD)
sd["t2d"] = torch.zeros(V, dtype=torch.bool)
sd["t2d"][sel] = True
torch.save(sd, sys.argv[1])
PY
	binsrc="$work/srcbin/pytorch_model.bin"
	cat "$binsrc" >/dev/null
	for i in $(seq "$runs"); do
		time_cmd cpbin sh -c "cp '$binsrc' '$work/copy' && sync '$work/copy'"
		rm -f "$work/copy"
		time_cmd torch "$work/speculators" convert "$work/srcbin" --algorithm eagle3 --verifier "$work/verifier" --output-path "$work/out" --no-validate
		rm -rf "$work/out"
	done
	labels="$labels cpbin torch"
fi

largest=$((128256 * 4096 * 2))
printf 'source: %d bytes, largest tensor %d bytes, %d runs, median\n' "$bytes" "$largest" "$runs"
for label in $labels; do
	s=$(cut -d' ' -f1 "$work/$label" | median)
	rss=$(cut -d' ' -f2 "$work/$label" | median)
	awk -v l="$label" -v s="$s" -v b="$bytes" -v r="$rss" 'BEGIN {printf "%-9s %7.2f s  %7.1f MB/s  peak RSS %6.1f MB\n", l, s, b/s/1e6, r/1024}'
done
cps=$(cut -d' ' -f1 "$work/cp" | median)
cvs=$(cut -d' ' -f1 "$work/convert" | median)
rss=$(cut -d' ' -f2 "$work/convert" | median)
awk -v a="$cps" -v b="$cvs" -v r="$rss" -v L="$largest" 'BEGIN {
	printf "throughput convert/cp: %.2fx (goal >= 0.5x)\n", a/b
	printf "peak RSS convert: %.1f MB; goal < 2 x largest tensor + 200 MB = %.1f MB\n", r/1024, (2*L)/1e6 + 200 }'
if [ -f "$work/torch" ]; then
	a=$(cut -d' ' -f1 "$work/cpbin" | median)
	b=$(cut -d' ' -f1 "$work/torch" | median)
	awk -v a="$a" -v b="$b" 'BEGIN {printf "throughput torch convert/cp: %.2fx\n", a/b}'
fi
