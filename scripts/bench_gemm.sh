#!/usr/bin/env bash
# Prints the SGEMM table side by side in one run: our Go GEMM, OpenBLAS
# (when libopenblas-dev is installed) and gonum, at 1024³, 2048³ and the GEMM
# shapes of one EAGLE-3 training step, plus the machine's measured FMA peak.
# Implementations are measured interleaved; figures are medians of RUNS runs,
# by wall clock and by CPU time (steadier on a shared machine).
#
#   bash scripts/bench_gemm.sh            # RUNS=5 THREADS=0 (GOMAXPROCS)
#   RUNS=9 THREADS=1 bash scripts/bench_gemm.sh
#   SINGLE=0 bash scripts/bench_gemm.sh   # skip the one-thread go/openblas table
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS="${RUNS:-5}"
THREADS="${THREADS:-0}"
MIN_TIME="${MIN_TIME:-300ms}"
bin="$(mktemp -d)/speculators"
trap 'rm -rf "$(dirname "$bin")"' EXIT

impls=go,gonum
if [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ]; then
	go build -tags openblas -o "$bin" ./cmd/speculators
	impls=go,openblas,gonum
	set_openblas_coretype # its best kernels, for a fair race
else
	echo "bench_gemm: libopenblas-dev not installed; measuring go and gonum only" >&2
	go build -o "$bin" ./cmd/speculators
fi

echo "== $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "== FMA peak"
"$bin" bench peak --runs "$RUNS"
echo "== SGEMM, threads=${THREADS} (0: GOMAXPROCS), medians of ${RUNS}"
"$bin" bench gemm --size 1024,2048 --eagle3 --impl "$impls" --runs "$RUNS" --threads "$THREADS" --min-time "$MIN_TIME" 2>/dev/null
if [ "$impls" = go,openblas,gonum ] && [ "${SINGLE:-1}" = 1 ]; then
	# One thread each: no spinning helper threads, no barrier waits, so the
	# CPU-time columns compare the kernels themselves even on a busy machine.
	echo "== SGEMM, one thread, go vs openblas, medians of ${RUNS}"
	"$bin" bench gemm --size 1024,2048 --eagle3 --impl go,openblas --runs "$RUNS" --threads 1 --min-time "$MIN_TIME" 2>/dev/null
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
