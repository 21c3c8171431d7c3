package tensor

import (
	"math/rand/v2"
	"testing"
)

func benchGemm(b *testing.B, kern *gemmKernel, sh GemmShape) {
	r := rand.New(rand.NewPCG(1, 1))
	na, lda, nb, ldb, nc, ldc := sh.Lens()
	a, bb, c := randSlice(r, na), randSlice(r, nb), make([]float32, nc)
	old := kernelOverride
	kernelOverride = kern
	defer func() { kernelOverride = old }()
	b.ReportAllocs()
	for b.Loop() {
		Sgemm(sh.TransA, sh.TransB, sh.M, sh.N, sh.K, 1, a, lda, bb, ldb, 0, c, ldc)
	}
	b.ReportMetric(sh.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm(b *testing.B) {
	shapes := []GemmShape{SquareGemm(256), SquareGemm(1024), SquareGemm(2048)}
	for _, sh := range append(shapes, Eagle3StepGemms...) {
		b.Run(sh.Name, func(b *testing.B) { benchGemm(b, activeKernel(), sh) })
	}
}

// BenchmarkSgemmKernels compares every kernel of this build at 1024³.
func BenchmarkSgemmKernels(b *testing.B) {
	for _, kern := range gemmKernels() {
		b.Run(kern.name, func(b *testing.B) { benchGemm(b, kern, SquareGemm(1024)) })
	}
}
