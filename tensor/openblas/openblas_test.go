//go:build openblas && cgo

package openblas

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/speculators-go/speculators/tensor"
)

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int
	padC           int
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// TestSgemmMatchesOpenBLAS cross-checks Sgemm against OpenBLAS on shapes
// big enough for both to block and thread.
func TestSgemmMatchesOpenBLAS(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []gemmCase{
		{false, false, 300, 257, 513, 1, 0, 1, 2, 3},
		{true, false, 129, 700, 260, 0.5, 1, 0, 3, 0},
		{false, true, 512, 512, 64, 1, 0, 0, 0, 0},
		{true, true, 77, 45, 1000, -1, 0.5, 2, 2, 2},
	} {
		ar, ac := tc.m, tc.k
		if tc.transA {
			ar, ac = tc.k, tc.m
		}
		br, bc := tc.k, tc.n
		if tc.transB {
			br, bc = tc.n, tc.k
		}
		lda, ldb, ldc := ac+tc.padA, bc+tc.padB, tc.n+tc.padC
		a, b, c := randSlice(r, ar*lda), randSlice(r, br*ldb), randSlice(r, tc.m*ldc)
		if tc.beta == 0 {
			for i := range c {
				c[i] = float32(math.NaN())
			}
		}
		got, want := append([]float32(nil), c...), append([]float32(nil), c...)
		tensor.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
		tol := 1e-4 * math.Sqrt(float64(tc.k))
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				if d := math.Abs(float64(got[i*ldc+j] - want[i*ldc+j])); !(d <= tol) {
					t.Fatalf("%v: C[%d,%d] = %g, OpenBLAS %g", tc, i, j, got[i*ldc+j], want[i*ldc+j])
				}
			}
		}
	}
}

func BenchmarkSgemmOpenBLAS(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	shapes := []tensor.GemmShape{tensor.SquareGemm(256), tensor.SquareGemm(1024), tensor.SquareGemm(2048)}
	for _, sh := range append(shapes, tensor.Eagle3StepGemms...) {
		b.Run(sh.Name, func(b *testing.B) {
			na, lda, nb, ldb, nc, ldc := sh.Lens()
			a, bb, c := randSlice(r, na), randSlice(r, nb), make([]float32, nc)
			b.ReportAllocs()
			for b.Loop() {
				Sgemm(sh.TransA, sh.TransB, sh.M, sh.N, sh.K, 1, a, lda, bb, ldb, 0, c, ldc)
			}
			b.ReportMetric(sh.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
