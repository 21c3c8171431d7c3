package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randn(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * scale
	}
	return x
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// weighted returns Σ r·y in float64, the scalar whose gradient wrt y is r.
func weighted(r, y []float32) float64 {
	var s float64
	for i := range r {
		s += float64(r[i]) * float64(y[i])
	}
	return s
}

// checkClose fails if any |got−want| > atol + rtol·|want|.
func checkClose(t *testing.T, name string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		lim := atol + rtol*math.Abs(float64(want[i]))
		if !(d <= lim) { // catches NaN
			if at < 0 || d-lim > worst {
				worst, at = d-lim, i
			}
		}
	}
	if at >= 0 {
		t.Errorf("%s: element %d = %g, want %g (atol %g, rtol %g)", name, at, got[at], want[at], atol, rtol)
	}
}

func checkClose64(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	w := make([]float32, len(want))
	for i, v := range want {
		w[i] = float32(v)
	}
	checkClose(t, name, got, w, atol, rtol)
}

// checkGrad compares the analytic gradient of f with respect to x against
// central differences in float32 (f itself sums in float64), on up to
// samples entries of x.
func checkGrad(t *testing.T, name string, x, analytic []float32, f func() float64, h float32, atol, rtol float64, samples int) {
	t.Helper()
	r := newRand(uint64(len(x)) + 7)
	idx := make([]int, 0, samples)
	if len(x) <= samples {
		for i := range x {
			idx = append(idx, i)
		}
	} else {
		for range samples {
			idx = append(idx, r.IntN(len(x)))
		}
	}
	bad := 0
	for _, i := range idx {
		old := x[i]
		x[i] = old + h
		fp := f()
		x[i] = old - h
		fm := f()
		x[i] = old
		fd := (fp - fm) / float64(2*h)
		an := float64(analytic[i])
		if d := math.Abs(fd - an); !(d <= atol+rtol*math.Max(math.Abs(fd), math.Abs(an))) {
			if bad < 5 {
				t.Errorf("%s[%d]: analytic %g, finite difference %g", name, i, an, fd)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d gradient entries off", name, bad, len(idx))
	}
}
