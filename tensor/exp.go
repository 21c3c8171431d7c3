package tensor

import "math"

// expf is a float32 exp for the softmax and loss loops: Cody-Waite range
// reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for e^r (the
// Cephes expf coefficients) and 2^n built from exponent bits. It is within
// 2 ulp of the correctly rounded result over the whole float32 range
// (TestExpfULP sweeps it); results below the smallest normal flush to 0.
func expf(x float32) float32 {
	switch {
	case x != x: // NaN
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	}
	z := x * 1.44269504088896341 // x/ln2
	if z < 0 {
		z -= 0.5
	} else {
		z += 0.5
	}
	n := int32(z)
	fn := float32(n)
	r := x - fn*0.693359375
	r -= fn * -2.12194440e-4
	r2 := r * r
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r2 + r + 1
	if n > 127 { // x in (88.38, 88.72]: 2^n overflows the exponent field
		return y * 2 * math.Float32frombits(uint32(n-1+127)<<23)
	}
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// expfRef is the plain reference: float64 exp rounded to float32.
func expfRef(x float32) float32 { return float32(math.Exp(float64(x))) }

// logf is float32 log through float64; it is used once per row, not per element.
func logf(x float32) float32 { return float32(math.Log(float64(x))) }

// expAffine sets dst[i] = exp(a·src[i] + b) and returns Σ dst[i]; dst may
// alias src. It is the vector form of expf for whole rows (softmax, the
// losses, attention scores, SiLU): inputs below -87.33654 (and -Inf) give 0;
// unlike expf, the vector kernel saturates inputs above 88 at e⁸⁸ instead of
// +Inf, which the callers never reach (they subtract the row max or feed a
// sigmoid).
func expAffine(dst, src []float32, a, b float32) float32 {
	n := len(src)
	dst = dst[:n]
	var s float32
	m := 0
	if useVecExp && n >= 8 {
		m = n &^ 7
		s = expAffineAVX2(&dst[0], &src[0], m, a, b)
	}
	for i := m; i < n; i++ {
		e := expf(a*src[i] + b)
		dst[i] = e
		s += e
	}
	return s
}
