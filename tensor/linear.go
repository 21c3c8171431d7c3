package tensor

// Linear layers in PyTorch layout: W is (Out, In), y = x·Wᵀ + b. All matrix
// products go through Sgemm.

// LinearForward computes y = x·Wᵀ (+ b when b is not nil).
// x (N, In); w (Out, In); b (Out) or nil; y (N, Out).
func LinearForward(y, x, w, b []float32, n, in, out int) {
	Sgemm(false, true, n, out, in, 1, x, in, w, in, 0, y, out)
	if b != nil {
		b = b[:out]
		ParallelFor(n, rowGrain(out), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yr := y[i*out : (i+1)*out]
				for j, bv := range b {
					yr[j] += bv
				}
			}
		})
	}
}

// LinearBackward accumulates dx += dy·W, dw += dyᵀ·x and db += Σ_rows dy.
// dx may be nil (input needs no gradient); db may be nil (no bias).
// dy (N, Out); x, dx (N, In); w, dw (Out, In); db (Out).
func LinearBackward(dx, dw, db, dy, x, w []float32, n, in, out int) {
	if dx != nil {
		Sgemm(false, false, n, in, out, 1, dy, out, w, in, 1, dx, in)
	}
	Sgemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
	if db != nil {
		colSumAcc(db, dy, n, out)
	}
}

// colSumAcc accumulates db[j] += Σ_i dy[i, j], splitting the columns.
func colSumAcc(db, dy []float32, n, c int) {
	ParallelFor(c, 64, func(lo, hi int) {
		d := db[lo:hi]
		for i := 0; i < n; i++ {
			r := dy[i*c+lo : i*c+hi]
			for j := range d {
				d[j] += r[j]
			}
		}
	})
}

// LinearForwardRef is the plain reference for LinearForward (float64 sums).
func LinearForwardRef(y, x, w, b []float32, n, in, out int) {
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var s float64
			for p := 0; p < in; p++ {
				s += float64(x[i*in+p]) * float64(w[o*in+p])
			}
			if b != nil {
				s += float64(b[o])
			}
			y[i*out+o] = float32(s)
		}
	}
}

// LinearBackwardRef is the plain reference for LinearBackward (float64 sums).
func LinearBackwardRef(dx, dw, db, dy, x, w []float32, n, in, out int) {
	if dx != nil {
		for i := 0; i < n; i++ {
			for p := 0; p < in; p++ {
				var s float64
				for o := 0; o < out; o++ {
					s += float64(dy[i*out+o]) * float64(w[o*in+p])
				}
				dx[i*in+p] += float32(s)
			}
		}
	}
	for o := 0; o < out; o++ {
		for p := 0; p < in; p++ {
			var s float64
			for i := 0; i < n; i++ {
				s += float64(dy[i*out+o]) * float64(x[i*in+p])
			}
			dw[o*in+p] += float32(s)
		}
		if db != nil {
			var s float64
			for i := 0; i < n; i++ {
				s += float64(dy[i*out+o])
			}
			db[o] += float32(s)
		}
	}
}
