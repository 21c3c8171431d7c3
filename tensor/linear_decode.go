package tensor

import "sync"

// Linear layers for the few-row products of inference: one token per
// sequence in decode, or the k draft tokens of a speculative verification.
// Sgemm packs op(B) into panels before multiplying, which for a weight
// matrix read by a single row triples the memory traffic; these kernels
// stream each weight row once, so decode runs at memory bandwidth.

// linearRowsMax is the row count up to which LinearAuto streams the weights
// (LinearRowsForward) instead of calling Sgemm.
const linearRowsMax = 8

// LinearRowsForward computes y = x·Wᵀ (+ b when b is not nil) like
// LinearForward, splitting the rows of W over the workers and reading each
// once for all n rows of x.
// x (N, In); w (Out, In); b (Out) or nil; y (N, Out).
func LinearRowsForward(y, x, w, b []float32, n, in, out int) {
	if n == 0 || out == 0 {
		return
	}
	_ = x[n*in-1]
	_ = w[out*in-1]
	_ = y[n*out-1]
	if b != nil {
		b = b[:out]
	}
	j := linRowsPool.Get().(*linRowsJob)
	*j = linRowsJob{y: y, x: x, w: w, b: b, n: n, in: in, out: out}
	j.parts = Chunks(out, max(1, 32768/(in+1)))
	parallel(j.parts, j, &j.wg)
	*j = linRowsJob{}
	linRowsPool.Put(j)
}

// linRowsJob is one LinearRowsForward call as a pool task (a closure would
// escape to the heap on every call; decode allocates nothing).
type linRowsJob struct {
	y, x, w, b []float32
	n, in, out int
	parts      int
	wg         sync.WaitGroup
}

var linRowsPool = sync.Pool{New: func() any { return new(linRowsJob) }}

func (j *linRowsJob) run(part int) {
	lo, hi := split(j.out, j.parts, part)
	in, out, n, x, y := j.in, j.out, j.n, j.x, j.y
	m4 := 0 // columns the four-row kernel covers
	if useVecDot && in >= 16 && n >= 4 {
		m4 = in &^ 15
	}
	var acc [4]float32
	for o := lo; o < hi; o++ {
		wr := j.w[o*in : (o+1)*in]
		var bv float32
		if j.b != nil {
			bv = j.b[o]
		}
		i := 0
		if m4 > 0 {
			// Four rows of x per pass over the weight row.
			for ; i+4 <= n; i += 4 {
				dot4AVX2(&x[i*in], in, &wr[0], m4, &acc[0])
				for r := 0; r < 4; r++ {
					s := acc[r]
					if m4 < in {
						s += dot(x[(i+r)*in+m4:(i+r+1)*in], wr[m4:])
					}
					y[(i+r)*out+o] = s + bv
				}
			}
		}
		for ; i < n; i++ {
			y[i*out+o] = dotVec(x[i*in:(i+1)*in], wr) + bv
		}
	}
}

// LinearAuto computes y = x·Wᵀ (+ b) with LinearRowsForward for a few rows
// and LinearForward (Sgemm) otherwise.
// x (N, In); w (Out, In); b (Out) or nil; y (N, Out).
func LinearAuto(y, x, w, b []float32, n, in, out int) {
	if n <= linearRowsMax {
		LinearRowsForward(y, x, w, b, n, in, out)
		return
	}
	LinearForward(y, x, w, b, n, in, out)
}

// dotVec returns Σ a[i]·b[i] over len(a) (b at least as long), with the
// AVX2 kernel where the CPU has it.
func dotVec(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	m := 0
	var s float32
	if useVecDot && n >= 32 {
		m = n &^ 31
		s = dotAVX2(&a[0], &b[0], m)
	}
	if m < n {
		s += dot(a[m:], b[m:])
	}
	return s
}

// axpyVec computes y += a·x over len(x) (y at least as long).
func axpyVec(a float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	m := 0
	if useVecDot && n >= 16 {
		m = n &^ 15
		axpyAVX2(a, &x[0], &y[0], m)
	}
	for j := m; j < n; j++ {
		y[j] += a * x[j]
	}
}
