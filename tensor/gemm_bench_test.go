package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmShape is one benchmarked product.
type gemmShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// eagle3StepShapes are the GEMMs of one training step of the go-stack.md §3
// workload (seq 512, hidden 512, 8 heads of 64, MLP 1536, vocab 8192), as
// row-major calls: forward Y = X·Wᵀ (NT), input grads dX = dY·W (NN), weight
// grads dW = dYᵀ·X (TN).
var eagle3StepShapes = []gemmShape{
	{"qkvo_fwd", false, true, 512, 512, 512},
	{"mlp_up_fwd", false, true, 512, 1536, 512},
	{"mlp_down_fwd", false, true, 512, 512, 1536},
	{"head_fwd", false, true, 512, 8192, 512},
	{"head_dx", false, false, 512, 512, 8192},
	{"head_dw", true, false, 8192, 512, 512},
	{"mlp_up_dw", true, false, 1536, 512, 512},
	{"mlp_down_dx", false, false, 512, 1536, 512},
	{"attn_scores", false, true, 512, 512, 64},
	{"attn_values", false, false, 512, 64, 512},
}

func squareShapes() []gemmShape {
	var s []gemmShape
	for _, n := range []int{256, 1024, 2048} {
		s = append(s, gemmShape{fmt.Sprintf("sq%d", n), false, false, n, n, n})
	}
	return s
}

func benchGemm(b *testing.B, kern *gemmKernel, sh gemmShape) {
	r := rand.New(rand.NewPCG(1, 1))
	ar, ac := sh.m, sh.k
	if sh.transA {
		ar, ac = sh.k, sh.m
	}
	br, bc := sh.k, sh.n
	if sh.transB {
		br, bc = sh.n, sh.k
	}
	a, bb, c := randSlice(r, ar*ac), randSlice(r, br*bc), make([]float32, sh.m*sh.n)
	old := kernelOverride
	kernelOverride = kern
	defer func() { kernelOverride = old }()
	b.ReportAllocs()
	for b.Loop() {
		Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, a, ac, bb, bc, 0, c, sh.n)
	}
	b.ReportMetric(2*float64(sh.m)*float64(sh.n)*float64(sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm(b *testing.B) {
	for _, sh := range append(squareShapes(), eagle3StepShapes...) {
		b.Run(sh.name, func(b *testing.B) { benchGemm(b, activeKernel(), sh) })
	}
}

// BenchmarkSgemmKernels compares every kernel of this build at 1024³.
func BenchmarkSgemmKernels(b *testing.B) {
	for _, kern := range gemmKernels() {
		b.Run(kern.name, func(b *testing.B) { benchGemm(b, kern, gemmShape{"sq1024", false, false, 1024, 1024, 1024}) })
	}
}
