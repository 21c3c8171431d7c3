#!/usr/bin/env bash
# Rebuilds models/fortune-llama, the bundled verifier, from the Debian
# "fortunes" package with the project's own commands:
#   build-corpus     fortunes -> ChatML conversations (train.txt, valid.txt, *.jsonl)
#   train-tokenizer  byte-level BPE, 2048 tokens, ChatML chat template
#   train-lm         7.9M-parameter Llama (scripts/verifier-config.json: 8 layers,
#                    hidden 256), 1200 steps
# About 12 minutes on 2 cores. Re-running resumes the training from
# $WORK/ckpt. Corpus and tokenizer are byte-identical on every run; training
# is seeded (init and data order) but its float sums are split by core count,
# so the weights are only expected to match closely, not bit for bit.
#
#   apt-get install -y fortunes   # /usr/share/games/fortunes
#   bash scripts/build_verifier.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FORTUNES=${FORTUNES:-/usr/share/games/fortunes}
WORK=${WORK:-out/verifier}
OUT=${OUT:-models/fortune-llama}
STEPS=${STEPS:-1200}
if [ ! -f "$FORTUNES/computers" ]; then
	echo "build_verifier: no fortune files in $FORTUNES (apt-get install fortunes)" >&2
	exit 1
fi
mkdir -p "$WORK"
go build -o "$WORK/speculators" ./cmd/speculators
S="$WORK/speculators"
"$S" build-corpus --fortunes "$FORTUNES" --output "$WORK/corpus" --holdout 500 --seed 1
"$S" train-tokenizer --input "$WORK/corpus/train.txt" --vocab-size 2048 --output "$WORK/tokenizer"
"$S" train-lm --model-config scripts/verifier-config.json --tokenizer "$WORK/tokenizer" \
	--input "$WORK/corpus/train.txt" --valid "$WORK/corpus/valid.txt" \
	--output "$WORK/model" --checkpoint-dir "$WORK/ckpt" --resume \
	--steps "$STEPS" --warmup 30 --batch-tokens 2048 --seq-len 256 --lr 2e-3 --min-lr 1e-4 \
	--log-every 10 --checkpoint-every 100 --seed 1
# Words seen at least 3 times in the training text, for the generation test.
tr -cs 'A-Za-z' '\n' < "$WORK/corpus/train.txt" | tr 'A-Z' 'a-z' | LC_ALL=C sort | uniq -c |
	awk '$1>=3 && length($2)>1 {print $2}' > models/testdata/corpus_words.txt
cp "$WORK/corpus/valid.jsonl" models/testdata/heldout.jsonl
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
	cp "$WORK/model/$f" "$OUT.tmp/$f"
done
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
du -sh "$OUT"
if [ -d testdata/npm/node_modules/@lenml/tokenizers ]; then
	node models/testdata/gen_tokenizer_parity.mjs # transformers.js goldens for the new tokenizer
else
	echo "build_verifier: run (cd testdata/npm && npm ci) && node models/testdata/gen_tokenizer_parity.mjs" >&2
fi
"$S" generate --model "$OUT" --chat --prompt "Tell me a fortune about computers." --max-tokens 80
