package tensor

import "math"

// RMSNorm with Hugging Face semantics, all in float32:
// y = (x · rsqrt(mean(x²) + eps)) · w.

// RMSNormForward normalises each row of x and saves rstd for the backward.
// x, y (N, C); w (C); rstd (N). y may alias x.
func RMSNormForward(y, rstd, x, w []float32, n, c int, eps float32) {
	w = w[:c]
	// Decode-sized work runs here: building the closure below allocates.
	if Chunks(n, rowGrain(c)) <= 1 {
		rmsNormRows(y, rstd, x, w, c, eps, 0, n)
		return
	}
	ParallelFor(n, rowGrain(c), func(lo, hi int) { rmsNormRows(y, rstd, x, w, c, eps, lo, hi) })
}

func rmsNormRows(y, rstd, x, w []float32, c int, eps float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		xr, yr := x[i*c:(i+1)*c], y[i*c:(i+1)*c]
		ms := dot(xr, xr) / float32(c)
		r := float32(1 / math.Sqrt(float64(ms+eps)))
		rstd[i] = r
		for j, xv := range xr {
			yr[j] = (xv * r) * w[j]
		}
	}
}

// RMSNormBackward accumulates dx and dw. With x̂ = x·rstd:
// dx += rstd · (w⊙dy − x̂ · mean(x̂⊙w⊙dy)),  dw += Σ_rows dy⊙x̂.
// dx, dy, x (N, C); dw, w (C); rstd (N). dx must not alias dy.
func RMSNormBackward(dx, dw, dy, x, w, rstd []float32, n, c int) {
	w = w[:c]
	ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr, dyr, dxr := x[i*c:(i+1)*c], dy[i*c:(i+1)*c], dx[i*c:(i+1)*c]
			r := rstd[i]
			var s float32
			for j, xv := range xr {
				s += xv * w[j] * dyr[j]
			}
			k := s * r * r / float32(c) // mean(x̂⊙w⊙dy)/rstd, folded
			for j, xv := range xr {
				dxr[j] += r * (w[j]*dyr[j] - xv*k)
			}
		}
	})
	// dw: split the columns so no two goroutines touch the same dw[j].
	ParallelFor(c, 64, func(lo, hi int) {
		dwc := dw[lo:hi]
		for i := 0; i < n; i++ {
			r := rstd[i]
			xr, dyr := x[i*c+lo:i*c+hi], dy[i*c+lo:i*c+hi]
			for j := range dwc {
				dwc[j] += dyr[j] * (xr[j] * r)
			}
		}
	})
}

// RMSNormForwardRef is the plain reference for RMSNormForward (float64 sums).
func RMSNormForwardRef(y, rstd, x, w []float32, n, c int, eps float32) {
	for i := 0; i < n; i++ {
		var ss float64
		for j := 0; j < c; j++ {
			ss += float64(x[i*c+j]) * float64(x[i*c+j])
		}
		r := 1 / math.Sqrt(ss/float64(c)+float64(eps))
		rstd[i] = float32(r)
		for j := 0; j < c; j++ {
			y[i*c+j] = float32(float64(x[i*c+j]) * r * float64(w[j]))
		}
	}
}

// RMSNormBackwardRef is the plain reference for RMSNormBackward (float64).
func RMSNormBackwardRef(dx, dw, dy, x, w, rstd []float32, n, c int) {
	for i := 0; i < n; i++ {
		r := float64(rstd[i])
		var s float64
		for j := 0; j < c; j++ {
			s += float64(x[i*c+j]) * r * float64(w[j]) * float64(dy[i*c+j])
		}
		s /= float64(c)
		for j := 0; j < c; j++ {
			xh := float64(x[i*c+j]) * r
			dx[i*c+j] += float32(r * (float64(w[j])*float64(dy[i*c+j]) - xh*s))
			dw[j] += float32(float64(dy[i*c+j]) * xh)
		}
	}
}
