#!/usr/bin/env bash
# Throughput of the safetensors reader and writer on a >= 1 GB checkpoint, as
# a ratio to cp of the same file on the same disk in the same run (median of
# 3 rounds after a warm-up round). Usage:
#   scripts/bench_safetensors.sh [MB] [DIR] [ROUNDS]
# MB defaults to 1100 (1.15 GB file); DIR defaults to the system temp dir;
# ROUNDS (default 3) timed rounds, the median is reported. On a shared,
# loaded machine single rounds vary by 3x or more: compare ratios within one
# run only. SAFETENSORS_BENCH_AB=1 also times the writer without its early
# writeback (sync_file_range), interleaved.
# Also runs the testing.B benchmarks (64 MB, warm cache) with -count 3.
set -euo pipefail
cd "$(dirname "$0")/.."
mb="${1:-1100}"
dir="${2:-${TMPDIR:-/tmp}}"
rounds="${3:-3}"
echo "== cp-ratio throughput, ${mb} MB file in ${dir}"
SAFETENSORS_BENCH_MB="$mb" SAFETENSORS_BENCH_DIR="$dir" SAFETENSORS_BENCH_ROUNDS="$rounds" SAFETENSORS_BENCH_AB="${SAFETENSORS_BENCH_AB:-}" \
	go test ./safetensors -run '^TestThroughputVsCp$' -count=1 -v -timeout 20m | grep -E 'bench_test|^(ok|FAIL|---)'
echo "== testing.B benchmarks"
go test ./safetensors -run '^$' -bench . -benchmem -count 3
