# Shared pieces of the scripts/bench_*.sh side-by-side benchmarks; source it
# after `cd` to the repository root:  . scripts/lib.sh

# need_torch NAME: sets py to Debian's /usr/bin/python3 and exits 1, naming
# the benchmark and the install command, when it cannot import torch.
need_torch() {
	py=/usr/bin/python3
	if ! $py -c 'import torch' 2>/dev/null; then
		echo "$1: $py cannot import torch (apt-get install -y python3-torch python3-numpy)" >&2
		exit 1
	fi
}

# set_openblas_coretype: Debian's OpenBLAS (PyTorch's BLAS, and ours under
# -tags openblas) does not recognise some virtualized CPUs and falls back to
# SSE3 ("Prescott") kernels; name the core from the CPU flags so the baseline
# gets its strongest kernels. An OPENBLAS_CORETYPE already set is kept.
set_openblas_coretype() {
	if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
		if grep -qw avx512f /proc/cpuinfo; then
			export OPENBLAS_CORETYPE=SkylakeX
		elif grep -qw avx2 /proc/cpuinfo; then
			export OPENBLAS_CORETYPE=Haswell
		fi
	fi
}

# machine_load: "N CPUs, load L1 L5 L15", for the heading of a run.
machine_load() {
	echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench_step_json NAME: reads `go test -bench` output and prints, for the
# benchmark NAME, a line `go {"step_ms": ..., "step_cpu_ms": ...}` from its
# ns/op and cpu-ms/op figures.
bench_step_json() {
	awk -v name="$1" 'index($1, name) == 1 { for (i = 1; i < NF; i++) { if ($(i+1) == "ns/op") ns = $i; if ($(i+1) == "cpu-ms/op") cpu = $i }
		printf "go {\"step_ms\": %f, \"step_cpu_ms\": %f}\n", ns / 1e6, cpu }'
}
