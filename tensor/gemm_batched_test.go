package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmStridedBatched checks attention-style batches (heads side by
// side in one row-major tensor), shared operands (stride 0) and separate
// matrices against per-entry SgemmRef.
func TestSgemmStridedBatched(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	type tc struct {
		name                       string
		transA, transB             bool
		m, n, k                    int
		lda, strideA, ldb, strideB int
		ldc, strideC               int
		batch                      int
		alpha, beta                float32
	}
	const T, NH, HD = 37, 8, 16
	cases := []tc{
		// scores_h = Q_h·K_hᵀ: Q, K are (T, NH·HD); S is (NH, T, T).
		{"scores", false, true, T, T, HD, NH * HD, HD, NH * HD, HD, T, T * T, NH, 0.25, 0},
		// out_h = P_h·V_h written into (T, NH·HD).
		{"values", false, false, T, HD, T, T, T * T, NH * HD, HD, NH * HD, HD, NH, 1, 0},
		// dV_h = P_hᵀ·dO_h, accumulated.
		{"dvalues", true, false, T, HD, T, T, T * T, NH * HD, HD, NH * HD, HD, NH, 1, 1},
		// One shared B.
		{"sharedB", false, false, 20, 30, 40, 40, 800, 30, 0, 30, 600, 5, -1, 0.5},
		// Fewer entries than workers: each product is split instead.
		{"fewBig", true, true, 70, 90, 50, 70, 3500, 50, 4500, 90, 6300, 1, 1, 0},
	}
	for _, c := range cases {
		for _, threads := range []int{1, 2, 4} {
			old := gemmSerialCutoff
			gemmSerialCutoff = 0
			func() {
				defer func() { gemmSerialCutoff = old }()
				defer setMaxProcs(threads)()
				lenOf := func(rows, ld, stride int) int { return (c.batch-1)*stride + rows*ld }
				ar := c.m
				if c.transA {
					ar = c.k
				}
				br := c.k
				if c.transB {
					br = c.n
				}
				a := randSlice(r, lenOf(ar, c.lda, c.strideA))
				b := randSlice(r, lenOf(br, c.ldb, c.strideB))
				cc := randSlice(r, lenOf(c.m, c.ldc, c.strideC))
				if c.beta == 0 {
					for i := range cc {
						cc[i] = float32(math.NaN())
					}
				}
				want := append([]float32(nil), cc...)
				for i := 0; i < c.batch; i++ {
					SgemmRef(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a[i*c.strideA:], c.lda, b[i*c.strideB:], c.ldb, c.beta, want[i*c.strideC:], c.ldc)
				}
				got := append([]float32(nil), cc...)
				SgemmStridedBatched(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, c.lda, c.strideA, b, c.ldb, c.strideB, c.beta, got, c.ldc, c.strideC, c.batch)
				tol := 1e-4 * math.Sqrt(float64(c.k))
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
						t.Fatalf("%s threads=%d: element %d = %g, want %g", c.name, threads, i, got[i], want[i])
					}
				}
			}()
		}
	}
}

func TestSgemmStridedBatchedPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"shortC": func() {
			SgemmStridedBatched(false, false, 2, 2, 2, 1, make([]float32, 8), 2, 4, make([]float32, 8), 2, 4, 0, make([]float32, 7), 2, 4, 2)
		},
		"negStride": func() {
			SgemmStridedBatched(false, false, 2, 2, 2, 1, make([]float32, 8), 2, -4, make([]float32, 8), 2, 4, 0, make([]float32, 8), 2, 4, 2)
		},
		"farStart": func() {
			SgemmStridedBatched(false, false, 2, 2, 2, 1, make([]float32, 8), 2, 40, make([]float32, 8), 2, 4, 0, make([]float32, 8), 2, 4, 2)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func BenchmarkSgemmStridedBatched(b *testing.B) {
	// The attention scores of the EAGLE-3 step: 8 heads, T=512, HD=64.
	const T, NH, HD = 512, 8, 64
	r := rand.New(rand.NewPCG(1, 1))
	q, k, s := randSlice(r, T*NH*HD), randSlice(r, T*NH*HD), make([]float32, NH*T*T)
	b.ReportAllocs()
	for b.Loop() {
		SgemmStridedBatched(false, true, T, T, HD, 0.125, q, NH*HD, HD, k, NH*HD, HD, 0, s, T, T*T, NH)
	}
	b.ReportMetric(2*T*T*HD*NH*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
