package tensor

import "math"

// Row-wise softmax and log-softmax over the last dimension, in float32 with
// the max subtracted first. Forward and Backward side by side; the fast
// versions split rows across goroutines and use expf.

// SoftmaxForward computes out = softmax(x) for each of the n rows.
// x, out (N, V); out may alias x.
func SoftmaxForward(out, x []float32, n, v int) {
	if Chunks(n, rowGrain(v)) <= 1 {
		for i := range n {
			softmaxRow(out[i*v:(i+1)*v], x[i*v:(i+1)*v])
		}
		return
	}
	ParallelFor(n, rowGrain(v), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			softmaxRow(out[i*v:(i+1)*v], x[i*v:(i+1)*v])
		}
	})
}

// SoftmaxBackward accumulates dx += out ⊙ (dout − Σ dout⊙out) row by row.
// dx, dout, out (N, V).
func SoftmaxBackward(dx, dout, out []float32, n, v int) {
	ParallelFor(n, rowGrain(v), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dxr, dyr, yr := dx[i*v:(i+1)*v], dout[i*v:(i+1)*v], out[i*v:(i+1)*v]
			s := dot(dyr, yr)
			for j := range yr {
				dxr[j] += yr[j] * (dyr[j] - s)
			}
		}
	})
}

// LogSoftmaxForward computes out = x − logsumexp(x) for each row.
// x, out (N, V); out may alias x.
func LogSoftmaxForward(out, x []float32, n, v int) {
	ParallelFor(n, rowGrain(v), func(lo, hi int) {
		sb := getScratch(v)
		defer putScratch(sb)
		for i := lo; i < hi; i++ {
			xr, or := x[i*v:(i+1)*v], out[i*v:(i+1)*v]
			lse := logSumExp(xr, *sb)
			for j, xv := range xr {
				or[j] = xv - lse
			}
		}
	})
}

// LogSoftmaxBackward accumulates dx += dout − softmax(x)·Σdout, where
// softmax(x) = exp(out). dx, dout, out (N, V).
func LogSoftmaxBackward(dx, dout, out []float32, n, v int) {
	ParallelFor(n, rowGrain(v), func(lo, hi int) {
		sb := getScratch(v)
		defer putScratch(sb)
		p := *sb
		for i := lo; i < hi; i++ {
			dxr, dyr, yr := dx[i*v:(i+1)*v], dout[i*v:(i+1)*v], out[i*v:(i+1)*v]
			s := sum(dyr)
			expAffine(p, yr, 1, 0)
			for j := range yr {
				dxr[j] += dyr[j] - p[j]*s
			}
		}
	})
}

// rowGrain is how many rows of width v make a piece of work worth a goroutine hop.
func rowGrain(v int) int {
	g := 16384 / (v + 1)
	if g < 1 {
		g = 1
	}
	return g
}

// softmaxRow writes softmax(x) into out (which may alias x) and returns the
// row max and the sum of exp(x − max).
func softmaxRow(out, x []float32) (maxv, s float32) {
	maxv = maxOf(x)
	s = expAffine(out, x, 1, -maxv)
	inv := 1 / s
	for j := range out[:len(x)] {
		out[j] *= inv
	}
	return maxv, s
}

// logSumExp returns log Σ exp(x) computed stably; ws is scratch of len(x).
func logSumExp(x, ws []float32) float32 {
	m := maxOf(x)
	if math.IsInf(float64(m), 0) {
		return m
	}
	return m + logf(expAffine(ws, x, 1, -m))
}

// maxOf returns the largest element (−Inf for an empty slice; NaNs are skipped).
func maxOf(x []float32) float32 {
	m0, m1, m2, m3 := float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))
	j := 0
	if useVecExp && len(x) >= 64 {
		j = len(x) &^ 31
		if v := maxAVX2(&x[0], j); v == v {
			m0 = v
		}
	}
	for ; j+4 <= len(x); j += 4 {
		if x[j] > m0 {
			m0 = x[j]
		}
		if x[j+1] > m1 {
			m1 = x[j+1]
		}
		if x[j+2] > m2 {
			m2 = x[j+2]
		}
		if x[j+3] > m3 {
			m3 = x[j+3]
		}
	}
	for ; j < len(x); j++ {
		if x[j] > m0 {
			m0 = x[j]
		}
	}
	if m1 > m0 {
		m0 = m1
	}
	if m3 > m2 {
		m2 = m3
	}
	if m2 > m0 {
		m0 = m2
	}
	return m0
}

func sum(x []float32) float32 {
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(x); j += 4 {
		s0 += x[j]
		s1 += x[j+1]
		s2 += x[j+2]
		s3 += x[j+3]
	}
	for ; j < len(x); j++ {
		s0 += x[j]
	}
	return (s0 + s1) + (s2 + s3)
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(a); j += 4 {
		s0 += a[j] * b[j]
		s1 += a[j+1] * b[j+1]
		s2 += a[j+2] * b[j+2]
		s3 += a[j+3] * b[j+3]
	}
	for ; j < len(a); j++ {
		s0 += a[j] * b[j]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy computes y += a·x.
func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for j, v := range x {
		y[j] += a * v
	}
}

// SoftmaxRef is the plain reference for SoftmaxForward, in float64.
func SoftmaxRef(out, x []float32, n, v int) {
	for i := 0; i < n; i++ {
		xr := x[i*v : (i+1)*v]
		m := math.Inf(-1)
		for _, xv := range xr {
			m = math.Max(m, float64(xv))
		}
		var s float64
		for _, xv := range xr {
			s += math.Exp(float64(xv) - m)
		}
		for j, xv := range xr {
			out[i*v+j] = float32(math.Exp(float64(xv)-m) / s)
		}
	}
}

// LogSoftmaxRef is the plain reference for LogSoftmaxForward, in float64.
func LogSoftmaxRef(out, x []float32, n, v int) {
	for i := 0; i < n; i++ {
		xr := x[i*v : (i+1)*v]
		m := math.Inf(-1)
		for _, xv := range xr {
			m = math.Max(m, float64(xv))
		}
		var s float64
		for _, xv := range xr {
			s += math.Exp(float64(xv) - m)
		}
		lse := m + math.Log(s)
		for j, xv := range xr {
			out[i*v+j] = float32(float64(xv) - lse)
		}
	}
}
