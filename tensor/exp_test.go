package tensor

import (
	"math"
	"testing"
)

func ulpDiff(a, b float32) int64 {
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < ib {
		return ib - ia
	}
	return ia - ib
}

func TestExpfULP(t *testing.T) {
	worst, at := int64(0), float32(0)
	step := float32(1e-4)
	if testing.Short() {
		step = 1e-3
	}
	for x := float32(-87.3); x < 88.7; x += step {
		got, want := expf(x), expfRef(x)
		if d := ulpDiff(got, want); d > worst {
			worst, at = d, x
		}
	}
	// Also every float32 bit pattern in [-1, 1] near 0, stepping by exponent.
	for bits := uint32(0x33000000); bits < 0x3f800000; bits += 997 {
		for _, x := range []float32{math.Float32frombits(bits), -math.Float32frombits(bits)} {
			if d := ulpDiff(expf(x), expfRef(x)); d > worst {
				worst, at = d, x
			}
		}
	}
	t.Logf("worst error %d ulp at x=%g", worst, at)
	if worst > 2 {
		t.Fatalf("expf error %d ulp at x=%g, want ≤ 2", worst, at)
	}
}

func TestExpfSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {100, inf}, {-inf, 0}, {inf, inf}, {88.7, expfRef(88.7)},
	}
	for _, c := range cases {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if nan := float32(math.NaN()); expf(nan) == expf(nan) {
		t.Errorf("expf(NaN) is not NaN")
	}
}

func BenchmarkExpf(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i)/256 - 8
	}
	b.ReportAllocs()
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += expf(v)
		}
	}
	_ = s
}

func BenchmarkExpfMath(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i)/256 - 8
	}
	b.ReportAllocs()
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += expfRef(v)
		}
	}
	_ = s
}

func TestExpAffine(t *testing.T) {
	for _, n := range []int{0, 3, 8, 29, 1000} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i%200)*0.9 - 100 // spans the underflow edge
		}
		if n > 5 {
			src[5] = float32(math.Inf(-1))
		}
		for _, ab := range [][2]float32{{1, 0}, {1, -3.5}, {-1, 0}, {0.5, 2}} {
			dst := make([]float32, n)
			s := expAffine(dst, src, ab[0], ab[1])
			var want float64
			for i, x := range src {
				y := ab[0]*x + ab[1]
				if y > 88 {
					continue // saturation differs by design
				}
				w := expfRef(y)
				if y < -87.33654 {
					w = 0
				}
				// The vector kernel rounds a·x+b once (FMA): compare against
				// both roundings' neighbourhood via a relative bound.
				if d := ulpDiff(dst[i], w); d > 3 && math.Abs(float64(dst[i]-w)) > 1e-37 {
					t.Fatalf("n=%d a,b=%v x=%g: got %g want %g (%d ulp)", n, ab, x, dst[i], w, d)
				}
				want += float64(dst[i])
			}
			if ab[0] == 1 && ab[1] <= 0 && math.Abs(float64(s)-want) > 1e-5*math.Abs(want)+1e-30 {
				t.Errorf("n=%d a,b=%v: sum %g, want %g", n, ab, s, want)
			}
		}
	}
	nan := float32(math.NaN())
	src := []float32{nan, 0, 0, 0, 0, 0, 0, 0}
	dst := make([]float32, 8)
	expAffine(dst, src, 1, 0)
	if dst[0] == dst[0] || dst[1] != 1 {
		t.Errorf("NaN lane: got %v", dst)
	}
}

func BenchmarkExpAffine(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i)/256 - 8
	}
	b.ReportAllocs()
	for b.Loop() {
		expAffine(x[:0:0], nil, 1, 0)
		expAffine(x, x, 1, 0)
		for i := range x {
			x[i] = float32(i)/256 - 8
		}
	}
}

func TestMaxOf(t *testing.T) {
	r := newRand(9)
	for _, n := range []int{0, 1, 7, 63, 64, 100, 1000, 8192} {
		x := randn(r, n, 5)
		want := float32(math.Inf(-1))
		for _, v := range x {
			if v > want {
				want = v
			}
		}
		if got := maxOf(x); got != want {
			t.Errorf("n=%d: maxOf = %g, want %g", n, got, want)
		}
		if n > 10 {
			x[n-1] = 1e30 // in the scalar tail or the vector part
			x[3] = 2e30
			if got := maxOf(x); got != 2e30 {
				t.Errorf("n=%d: maxOf = %g, want 2e30", n, got)
			}
		}
	}
}
