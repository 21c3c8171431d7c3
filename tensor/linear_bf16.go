package tensor

import "math"

// Linear layers whose weights stay in bfloat16, the storage type of most
// checkpoints: computing from the bf16 bits halves the memory a decode step
// streams, and since widening bf16 to float32 is exact, the results equal
// those of the float32 weights.

// BF16ToFloat32 widens bfloat16 bits (the upper half of a float32) exactly.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// LinearBF16Forward computes y = x·Wᵀ (+ b when b is not nil) for a weight
// W held as bfloat16 bits. Up to a few rows, or a few dozen when W is
// small, it streams W (LinearRowsForward's kernel on bf16); otherwise it
// widens W to float32 in pooled scratch and calls Sgemm.
// x (N, In); w (Out, In) bf16; b (Out) or nil; y (N, Out).
func LinearBF16Forward(y, x []float32, w []uint16, b []float32, n, in, out int) {
	if n == 0 || out == 0 {
		return
	}
	_ = w[out*in-1]
	if n > linearRowsMax && (n > bf16StreamMaxRows || out*in > bf16StreamMaxWeights) {
		linearBF16Widen(y, x, w, b, n, in, out)
		return
	}
	linearRows(y, x, nil, w, b, n, in, out)
}

// Streaming reads W once per four rows of x, widening reads it once plus
// a float32 copy for Sgemm to pack. For a cache-resident W (a small model's
// prompt prefill) streaming wins up to 64 rows: BenchmarkLinearBF16Rows,
// hidden-256 shapes, 1.3-3.5× at 16-32 rows, even at 64, 0.7-0.8× at 128.
const (
	bf16StreamMaxRows    = 64
	bf16StreamMaxWeights = 1 << 20
)

// linearBF16Widen widens W to float32 in pooled scratch and calls Sgemm.
func linearBF16Widen(y, x []float32, w []uint16, b []float32, n, in, out int) {
	sb := getScratch(out * in)
	wf := *sb
	ParallelFor(out*in, 1<<16, func(lo, hi int) {
		for i, v := range w[lo:hi] {
			wf[lo+i] = BF16ToFloat32(v)
		}
	})
	LinearForward(y, x, wf, b, n, in, out)
	putScratch(sb)
}

// dotBF16 returns Σ a[i]·float32(w[i]) over len(a), summed like dotVec.
func dotBF16(a []float32, w []uint16) float32 {
	n := len(a)
	w = w[:n]
	m := 0
	var s float32
	if useVecDot {
		// The blocks of dotVec, so bf16 rows give its results bit for bit.
		if useDot512 && n >= 64 {
			m = n &^ 63
			s = dotBF16AVX512(&a[0], &w[0], m)
		}
		if k := (n - m) &^ 31; k > 0 {
			s += dotBF16AVX2(&a[m], &w[m], k)
			m += k
		}
	}
	if m < n {
		s += dotBF16Scalar(a[m:], w[m:])
	}
	return s
}

// dotBF16Scalar is the portable dot, summed like dot.
func dotBF16Scalar(a []float32, w []uint16) float32 {
	n := len(a)
	w = w[:n]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= n; j += 4 {
		s0 += a[j] * BF16ToFloat32(w[j])
		s1 += a[j+1] * BF16ToFloat32(w[j+1])
		s2 += a[j+2] * BF16ToFloat32(w[j+2])
		s3 += a[j+3] * BF16ToFloat32(w[j+3])
	}
	for ; j < n; j++ {
		s0 += a[j] * BF16ToFloat32(w[j])
	}
	return (s0 + s1) + (s2 + s3)
}
