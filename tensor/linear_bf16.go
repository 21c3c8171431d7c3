package tensor

import (
	"math"
	"sync"
)

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
	linearBF16Stream(y, x, w, b, n, in, out)
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

// linearBF16Stream streams each bf16 weight row once per four rows of x.
func linearBF16Stream(y, x []float32, w []uint16, b []float32, n, in, out int) {
	_ = w[out*in-1]
	_ = x[n*in-1]
	_ = y[n*out-1]
	if b != nil {
		b = b[:out]
	}
	j := linBF16Pool.Get().(*linBF16Job)
	*j = linBF16Job{y: y, x: x, w: w, b: b, n: n, nOut: n, in: in, out: out}
	var pad *[]float32
	if x4, ok := padRows(x, n, in); ok {
		pad, j.x, j.n = x4, *x4, 4
	}
	j.parts = Chunks(out, max(1, 65536/(in+1)))
	parallel(j.parts, j, &j.wg)
	*j = linBF16Job{}
	linBF16Pool.Put(j)
	if pad != nil {
		putScratch(pad)
	}
}

type linBF16Job struct {
	y, x, b    []float32
	w          []uint16
	n, in, out int
	nOut       int // rows of y to write (n counts the padded rows of x)
	parts      int
	wg         sync.WaitGroup
}

var linBF16Pool = sync.Pool{New: func() any { return new(linBF16Job) }}

func (j *linBF16Job) run(part int) {
	lo, hi := split(j.out, j.parts, part)
	if useVecDot && j.in >= 16 && j.n >= 4 {
		// As linRowsJob.run, with the same kernel on bf16 rows.
		for o := lo; o < hi; o += 2 {
			j.rowPair(o, min(o+1, hi-1))
		}
		return
	}
	for o := lo; o < hi; o++ {
		wr := j.w[o*j.in : (o+1)*j.in]
		var bv float32
		if j.b != nil {
			bv = j.b[o]
		}
		for i := range j.n {
			j.y[i*j.out+o] = dotBF16(j.x[i*j.in:(i+1)*j.in], wr) + bv
		}
	}
}

// rowPair is linRowsJob.rowPair on bf16 weight rows.
func (j *linBF16Job) rowPair(o0, o1 int) {
	in, out, n, x, y := j.in, j.out, j.n, j.x, j.y
	m := in &^ 15
	w0, w1 := j.w[o0*in:(o0+1)*in], j.w[o1*in:(o1+1)*in]
	var b0, b1 float32
	if j.b != nil {
		b0, b1 = j.b[o0], j.b[o1]
	}
	var acc [8]float32
	i := 0
	for ; i+4 <= n; i += 4 {
		dot4x2BF16(&x[i*in], in, &w0[0], (o1-o0)*in, m, &acc[0])
		for r := range 4 {
			s0, s1 := acc[2*r], acc[2*r+1]
			if m < in {
				xr := x[(i+r)*in+m : (i+r+1)*in]
				s0 += dotBF16Scalar(xr, w0[m:])
				s1 += dotBF16Scalar(xr, w1[m:])
			}
			if i+r < j.nOut {
				y[(i+r)*out+o0] = s0 + b0
				y[(i+r)*out+o1] = s1 + b1
			}
		}
	}
	for ; i < n; i++ {
		y[i*out+o0] = dotBF16(x[i*in:(i+1)*in], w0) + b0
		y[i*out+o1] = dotBF16(x[i*in:(i+1)*in], w1) + b1
	}
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
