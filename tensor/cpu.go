package tensor

// FMALoop returns the widest fp32 FMA throughput loop this build and CPU
// run: loop(n) does n iterations of 24 (AVX-512) or 12 (AVX2) independent
// VFMADD231PS accumulators that never touch memory, flopsPerIter each. It is
// the machine peak the SGEMM figures are judged against. ok is false in
// builds without assembly (purego, other architectures).
func FMALoop() (isa string, loop func(n int), flopsPerIter float64, ok bool) {
	isa, loop, flopsPerIter = peakLoop()
	return isa, loop, flopsPerIter, loop != nil
}
