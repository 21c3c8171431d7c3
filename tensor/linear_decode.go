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
	_ = w[out*in-1]
	linearRows(y, x, w, nil, b, n, in, out)
}

// linearRows runs LinearRowsForward on float32 weights w, or on bfloat16
// weights wb when w is nil (n, out > 0).
func linearRows(y, x, w []float32, wb []uint16, b []float32, n, in, out int) {
	_ = x[n*in-1]
	_ = y[n*out-1]
	if b != nil {
		b = b[:out]
	}
	j := linRowsPool.Get().(*linRowsJob)
	*j = linRowsJob{y: y, x: x, w: w, wb: wb, b: b, n: n, nOut: n, in: in, out: out}
	var pad *[]float32
	if x4, ok := padRows(x, n, in); ok {
		pad, j.x, j.n = x4, *x4, 4
	}
	rowBytes := 4 * (in + 1)
	if w == nil {
		rowBytes = 2 * (in + 1)
	}
	j.parts = Chunks(out, max(1, 131072/rowBytes))
	parallel(j.parts, j, &j.wg)
	*j = linRowsJob{}
	linRowsPool.Put(j)
	if pad != nil {
		putScratch(pad)
	}
}

// padRows copies 2 or 3 rows of x into four zero-padded rows, when the
// four-row kernel will take them: it computes four rows at about the cost
// of one-row dots over two or three (verify passes at k = 1, 2).
func padRows(x []float32, n, in int) (*[]float32, bool) {
	if !useVecDot || in < 16 || n < 2 || n >= 4 {
		return nil, false
	}
	p := getScratch(4 * in)
	copy(*p, x[:n*in])
	clear((*p)[n*in:])
	return p, true
}

// linRowsJob is one linearRows call as a pool task (a closure would
// escape to the heap on every call; decode allocates nothing). Exactly one
// of w (float32) and wb (bfloat16) holds the weights; the bf16 kernels sum
// like the float32 ones, so a bf16 weight gives the results of its float32
// widening bit for bit.
type linRowsJob struct {
	y, x, w, b []float32
	wb         []uint16
	n, in, out int
	nOut       int // rows of y to write (n counts the padded rows of x)
	parts      int
	wg         sync.WaitGroup
}

var linRowsPool = sync.Pool{New: func() any { return new(linRowsJob) }}

func (j *linRowsJob) run(part int) {
	lo, hi := split(j.out, j.parts, part)
	if useVecDot && j.in >= 16 && j.n >= 4 {
		// Pairs of weight rows against four rows of x per pass: each x
		// vector loaded feeds two FMAs. A leftover row pairs with itself,
		// so every output is summed alike wherever the parts split.
		for o := lo; o < hi; o += 2 {
			j.rowPair(o, min(o+1, hi-1))
		}
		return
	}
	for o := lo; o < hi; o++ {
		var bv float32
		if j.b != nil {
			bv = j.b[o]
		}
		for i := range j.n {
			j.y[i*j.out+o] = j.dotRow(j.x[i*j.in:(i+1)*j.in], o, 0, true) + bv
		}
	}
}

// rowPair computes outputs o0 and o1 (o1 = o0 or o0+1) of every row of x
// (n ≥ 4, in ≥ 16).
func (j *linRowsJob) rowPair(o0, o1 int) {
	in, out, n, x, y := j.in, j.out, j.n, j.x, j.y
	m := in &^ 15
	var b0, b1 float32
	if j.b != nil {
		b0, b1 = j.b[o0], j.b[o1]
	}
	var acc [8]float32
	i := 0
	for ; i+4 <= n; i += 4 {
		if j.wb != nil {
			dot4x2BF16(&x[i*in], in, &j.wb[o0*in], (o1-o0)*in, m, &acc[0])
		} else {
			dot4x2(&x[i*in], in, &j.w[o0*in], (o1-o0)*in, m, &acc[0])
		}
		for r := range 4 {
			s0, s1 := acc[2*r], acc[2*r+1]
			if m < in {
				xr := x[(i+r)*in+m : (i+r+1)*in]
				s0 += j.dotRow(xr, o0, m, false)
				s1 += j.dotRow(xr, o1, m, false)
			}
			if i+r < j.nOut {
				y[(i+r)*out+o0] = s0 + b0
				y[(i+r)*out+o1] = s1 + b1
			}
		}
	}
	for ; i < n; i++ {
		xr := x[i*in : (i+1)*in]
		y[i*out+o0] = j.dotRow(xr, o0, 0, true) + b0
		y[i*out+o1] = j.dotRow(xr, o1, 0, true) + b1
	}
}

// dotRow returns Σ xr[i]·W[o][off+i] over len(xr) with the vector dot
// (vec) or the portable one, on whichever weights the job holds.
func (j *linRowsJob) dotRow(xr []float32, o, off int, vec bool) float32 {
	lo, hi := o*j.in+off, (o+1)*j.in
	switch {
	case j.wb != nil && vec:
		return dotBF16(xr, j.wb[lo:hi])
	case j.wb != nil:
		return dotBF16Scalar(xr, j.wb[lo:hi])
	case vec:
		return dotVec(xr, j.w[lo:hi])
	}
	return dot(xr, j.w[lo:hi])
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
	if useVecDot {
		if useDot512 && n >= 64 {
			m = n &^ 63
			s = dotAVX512(&a[0], &b[0], m)
		}
		if k := (n - m) &^ 31; k > 0 {
			s += dotAVX2(&a[m], &b[m], k)
			m += k
		}
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
