package tensor

import "fmt"

// GemmShape names one Sgemm call shape, for benchmarks.
type GemmShape struct {
	Name           string
	TransA, TransB bool
	M, N, K        int
}

// Flops is the floating-point work of the product: 2·m·n·k.
func (s GemmShape) Flops() float64 { return 2 * float64(s.M) * float64(s.N) * float64(s.K) }

// Lens returns the lengths and leading dimensions of densely stored A, B, C.
func (s GemmShape) Lens() (na, lda, nb, ldb, nc, ldc int) {
	lda, ldb = s.K, s.N
	if s.TransA {
		lda = s.M
	}
	if s.TransB {
		ldb = s.K
	}
	return s.M * s.K, lda, s.K * s.N, ldb, s.M * s.N, s.N
}

// SquareGemm is the n×n×n product without transposes.
func SquareGemm(n int) GemmShape {
	return GemmShape{Name: fmt.Sprintf("sq%d", n), M: n, N: n, K: n}
}

// Eagle3StepGemms are the GEMMs of one training step of the go-stack.md §3
// workload (seq 512, hidden 512, 8 heads of 64, MLP 1536, vocab 8192), as
// row-major calls: forward Y = X·Wᵀ (NT), input gradients dX = dY·W (NN),
// weight gradients dW = dYᵀ·X (TN); attention per head.
var Eagle3StepGemms = []GemmShape{
	{"qkvo_fwd", false, true, 512, 512, 512},
	{"qkvo_dx", false, false, 512, 512, 512},
	{"qkvo_dw", true, false, 512, 512, 512},
	{"mlp_up_fwd", false, true, 512, 1536, 512},
	{"mlp_up_dx", false, false, 512, 512, 1536},
	{"mlp_up_dw", true, false, 1536, 512, 512},
	{"mlp_down_fwd", false, true, 512, 512, 1536},
	{"mlp_down_dx", false, false, 512, 1536, 512},
	{"mlp_down_dw", true, false, 512, 1536, 512},
	{"head_fwd", false, true, 512, 8192, 512},
	{"head_dx", false, false, 512, 512, 8192},
	{"head_dw", true, false, 8192, 512, 512},
	{"attn_scores", false, true, 512, 512, 64},
	{"attn_values", false, false, 512, 64, 512},
}
