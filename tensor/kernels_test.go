package tensor

import (
	"math"
	"testing"
)

func TestParallelChunksCover(t *testing.T) {
	for _, n := range []int{0, 1, 5, 100, 1001} {
		for _, chunks := range []int{1, 2, 3, 8} {
			seen := make([]int32, n)
			ParallelChunks(n, chunks, func(c, lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i]++ // disjoint ranges: no race
				}
			})
			for i, s := range seen {
				if s != 1 {
					t.Fatalf("n=%d chunks=%d: index %d covered %d times", n, chunks, i, s)
				}
			}
		}
	}
	// Nested calls must not deadlock.
	total := make([]int, 4)
	ParallelChunks(4, 4, func(c, lo, hi int) {
		ParallelFor(100, 1, func(lo, hi int) {})
		total[c] = hi - lo
	})
}

func TestSoftmax(t *testing.T) {
	r := newRand(1)
	n, v := 7, 301
	x := randn(r, n*v, 3)
	got, want := make([]float32, n*v), make([]float32, n*v)
	SoftmaxForward(got, x, n, v)
	SoftmaxRef(want, x, n, v)
	checkClose(t, "softmax", got, want, 1e-7, 1e-5)
	LogSoftmaxForward(got, x, n, v)
	LogSoftmaxRef(want, x, n, v)
	checkClose(t, "log_softmax", got, want, 1e-5, 1e-5)

	rr := randn(r, n*v, 1)
	y := make([]float32, n*v)
	for _, log := range []bool{false, true} {
		fwd := func() float64 {
			if log {
				LogSoftmaxForward(y, x, n, v)
			} else {
				SoftmaxForward(y, x, n, v)
			}
			return weighted(rr, y)
		}
		fwd()
		dx := make([]float32, n*v)
		if log {
			LogSoftmaxBackward(dx, rr, y, n, v)
		} else {
			SoftmaxBackward(dx, rr, y, n, v)
		}
		checkGrad(t, "softmax dx", x, dx, fwd, 1e-2, 2e-3, 1e-2, 60)
	}
}

func TestRMSNorm(t *testing.T) {
	r := newRand(2)
	n, c := 9, 130
	x, w := randn(r, n*c, 1), randn(r, c, 1)
	y, rstd := make([]float32, n*c), make([]float32, n)
	yr, rstdr := make([]float32, n*c), make([]float32, n)
	RMSNormForward(y, rstd, x, w, n, c, 1e-6)
	RMSNormForwardRef(yr, rstdr, x, w, n, c, 1e-6)
	checkClose(t, "rmsnorm y", y, yr, 1e-6, 1e-5)
	rr := randn(r, n*c, 1)
	dx, dw := make([]float32, n*c), make([]float32, c)
	dxr, dwr := make([]float32, n*c), make([]float32, c)
	RMSNormBackward(dx, dw, rr, x, w, rstd, n, c)
	RMSNormBackwardRef(dxr, dwr, rr, x, w, rstd, n, c)
	checkClose(t, "rmsnorm dx", dx, dxr, 1e-5, 1e-4)
	checkClose(t, "rmsnorm dw", dw, dwr, 1e-5, 1e-4)
	f := func() float64 { RMSNormForward(y, rstd, x, w, n, c, 1e-6); return weighted(rr, y) }
	checkGrad(t, "rmsnorm dx", x, dx, f, 1e-2, 2e-3, 1e-2, 80)
	checkGrad(t, "rmsnorm dw", w, dw, f, 1e-2, 2e-3, 1e-2, 80)
}

func TestLinear(t *testing.T) {
	r := newRand(3)
	n, in, out := 11, 17, 13
	x, w, b := randn(r, n*in, 1), randn(r, out*in, 1), randn(r, out, 1)
	y, yr := make([]float32, n*out), make([]float32, n*out)
	LinearForward(y, x, w, b, n, in, out)
	LinearForwardRef(yr, x, w, b, n, in, out)
	checkClose(t, "linear y", y, yr, 1e-5, 1e-5)
	rr := randn(r, n*out, 1)
	dx, dw, db := make([]float32, n*in), make([]float32, out*in), make([]float32, out)
	dxr, dwr, dbr := make([]float32, n*in), make([]float32, out*in), make([]float32, out)
	LinearBackward(dx, dw, db, rr, x, w, n, in, out)
	LinearBackwardRef(dxr, dwr, dbr, rr, x, w, n, in, out)
	checkClose(t, "linear dx", dx, dxr, 1e-5, 1e-5)
	checkClose(t, "linear dw", dw, dwr, 1e-5, 1e-5)
	checkClose(t, "linear db", db, dbr, 1e-5, 1e-5)
	f := func() float64 { LinearForward(y, x, w, b, n, in, out); return weighted(rr, y) }
	checkGrad(t, "linear dx", x, dx, f, 1e-2, 2e-3, 5e-3, 50)
	checkGrad(t, "linear dw", w, dw, f, 1e-2, 2e-3, 5e-3, 50)
	checkGrad(t, "linear db", b, db, f, 1e-2, 2e-3, 5e-3, 50)
}

func TestEmbedding(t *testing.T) {
	r := newRand(4)
	v, c := 10, 70
	w := randn(r, v*c, 1)
	ids := []int32{3, 0, 3, 9, 3, 1}
	out := make([]float32, len(ids)*c)
	if err := EmbeddingForward(out, w, ids, v, c); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		checkClose(t, "embedding row", out[i*c:(i+1)*c], w[int(id)*c:int(id+1)*c], 0, 0)
	}
	dout := randn(r, len(ids)*c, 1)
	dw, dwr := make([]float32, v*c), make([]float32, v*c)
	EmbeddingBackward(dw, dout, ids, c)
	EmbeddingBackwardRef(dwr, dout, ids, c)
	checkClose(t, "embedding dw", dw, dwr, 1e-6, 1e-6)
	for _, bad := range [][]int32{{10}, {-1}, {0, 2, 99}} {
		if err := EmbeddingForward(out, w, bad, v, c); err == nil {
			t.Errorf("ids %v: want an error", bad)
		}
	}
}

func TestSiLUGateAndMLP(t *testing.T) {
	r := newRand(5)
	n, c, inter := 6, 12, 20
	g, u := randn(r, n*inter, 2), randn(r, n*inter, 1)
	h, hr := make([]float32, n*inter), make([]float32, n*inter)
	SiLUGateForward(h, g, u)
	SiLUGateForwardRef(hr, g, u)
	checkClose(t, "silu h", h, hr, 1e-6, 1e-5)
	dh := randn(r, n*inter, 1)
	dg, du, dgr, dur := make([]float32, n*inter), make([]float32, n*inter), make([]float32, n*inter), make([]float32, n*inter)
	SiLUGateBackward(dg, du, dh, g, u)
	SiLUGateBackwardRef(dgr, dur, dh, g, u)
	checkClose(t, "silu dg", dg, dgr, 1e-6, 1e-5)
	checkClose(t, "silu du", du, dur, 1e-6, 1e-5)

	x := randn(r, n*c, 1)
	wg, wu, wd := randn(r, inter*c, 0.3), randn(r, inter*c, 0.3), randn(r, c*inter, 0.3)
	y := make([]float32, n*c)
	gg, uu, hh := make([]float32, n*inter), make([]float32, n*inter), make([]float32, n*inter)
	rr := randn(r, n*c, 1)
	f := func() float64 { MLPForward(y, gg, uu, hh, x, wg, wu, wd, n, c, inter); return weighted(rr, y) }
	f()
	dx, dwg, dwu, dwd := make([]float32, n*c), make([]float32, inter*c), make([]float32, inter*c), make([]float32, c*inter)
	MLPBackward(dx, dwg, dwu, dwd, rr, x, gg, uu, hh, wg, wu, wd, make([]float32, 3*n*inter), n, c, inter)
	checkGrad(t, "mlp dx", x, dx, f, 1e-2, 2e-3, 1e-2, 50)
	checkGrad(t, "mlp dwg", wg, dwg, f, 1e-2, 2e-3, 1e-2, 50)
	checkGrad(t, "mlp dwu", wu, dwu, f, 1e-2, 2e-3, 1e-2, 50)
	checkGrad(t, "mlp dwd", wd, dwd, f, 1e-2, 2e-3, 1e-2, 50)
}

func TestRoPE(t *testing.T) {
	r := newRand(6)
	cfgs := []RoPEConfig{
		{Theta: 10000, HeadDim: 16},
		{Theta: 500000, HeadDim: 16, PartialRotaryFactor: 0.5},
	}
	for _, cfg := range cfgs {
		inv, sc, err := RoPEInvFreq(cfg)
		if err != nil {
			t.Fatal(err)
		}
		T, nh, hd, rot := 5, 3, cfg.HeadDim, cfg.RotaryDim()
		pos := []int32{0, 1, 2, 7, 100}
		cos, sin := make([]float32, T*rot/2), make([]float32, T*rot/2)
		RoPETables(cos, sin, pos, inv, sc)
		x := randn(r, T*nh*hd, 1)
		a, b := append([]float32(nil), x...), append([]float32(nil), x...)
		RoPEForward(a, cos, sin, T, nh, hd, rot)
		RoPEForwardRef(b, cos, sin, T, nh, hd, rot)
		checkClose(t, "rope", a, b, 0, 0)
		// Partial rotary: the tail passes through.
		for i := 0; i < T*nh; i++ {
			checkClose(t, "rope pass-through", a[i*hd+rot:(i+1)*hd], x[i*hd+rot:(i+1)*hd], 0, 0)
		}
		rr := randn(r, len(x), 1)
		y := make([]float32, len(x))
		f := func() float64 { copy(y, x); RoPEForward(y, cos, sin, T, nh, hd, rot); return weighted(rr, y) }
		dx := append([]float32(nil), rr...)
		RoPEBackward(dx, cos, sin, T, nh, hd, rot)
		checkGrad(t, "rope dx", x, dx, f, 1e-2, 1e-3, 1e-3, 100)
	}
	if _, _, err := RoPEInvFreq(RoPEConfig{Theta: 1e4, HeadDim: 8, Scaling: &RoPEScaling{RopeType: "dynamic", Factor: 2}}); err == nil {
		t.Error("unsupported rope_type: want an error")
	}
}

func TestAdamW(t *testing.T) {
	r := newRand(7)
	n := 1000
	o := NewAdamW(1e-2, 0.1)
	ps := []*Param{{W: randn(r, n, 1), Decay: true}, {W: randn(r, 10, 1), Decay: false}}
	ref := make([][4][]float64, len(ps))
	for i, p := range ps {
		for k := range 4 {
			ref[i][k] = make([]float64, len(p.W))
		}
		for j, v := range p.W {
			ref[i][0][j] = float64(v)
		}
	}
	for step := 1; step <= 5; step++ {
		for i, p := range ps {
			p.G = randn(r, len(p.W), 1)
			for j, v := range p.G {
				ref[i][1][j] = float64(v)
			}
		}
		o.Step(ps)
		for i, p := range ps {
			adamWStepRef(*o, step, ref[i][0], ref[i][1], ref[i][2], ref[i][3], p.Decay)
			checkClose64(t, "adamw w", p.W, ref[i][0], 1e-6, 1e-5)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	a, b := []float32{3, 0}, []float32{4}
	total := ClipGradNorm([][]float32{a, b}, 1)
	if total != 5 {
		t.Fatalf("total norm %g, want 5", total)
	}
	coef := float32(1) / (5 + 1e-6)
	checkClose(t, "clipped", append(a, b...), []float32{3 * coef, 0, 4 * coef}, 0, 1e-7)
	c := []float32{0.1, 0.2}
	ClipGradNorm([][]float32{c}, 1)
	checkClose(t, "unclipped", c, []float32{0.1, 0.2}, 0, 0)
}

func TestNewtonSchulz(t *testing.T) {
	r := newRand(8)
	for _, sh := range [][2]int{{8, 20}, {20, 8}, {16, 16}} {
		rows, cols := sh[0], sh[1]
		g := randn(r, rows*cols, 1)
		out := make([]float32, rows*cols)
		k := min(rows, cols)
		NewtonSchulz(out, g, rows, cols, 5, 1e-7, make([]float32, 2*rows*cols+2*k*k))
		want := newtonSchulzRef(g, rows, cols, 5)
		checkClose64(t, "newton-schulz", out, want, 1e-4, 1e-3)
		// The result is near-orthogonal: the Gram matrix of the short side has a
		// diagonal in the band the quintic iteration converges to (about 0.5..1.4).
		for i := 0; i < k; i++ {
			var d float64
			for j := 0; j < max(rows, cols); j++ {
				var v float32
				if rows <= cols {
					v = out[i*cols+j]
				} else {
					v = out[j*cols+i]
				}
				d += float64(v) * float64(v)
			}
			if d < 0.3 || d > 1.5 {
				t.Errorf("%dx%d: Gram diagonal %d = %g, not near 1", rows, cols, i, d)
			}
		}
	}
}

// newtonSchulzRef is the iteration in float64 with plain loops.
func newtonSchulzRef(g []float32, rows, cols, steps int) []float64 {
	r, c := rows, cols
	trans := rows > cols
	if trans {
		r, c = cols, rows
	}
	x := make([]float64, r*c)
	var nrm float64
	for _, v := range g {
		nrm += float64(v) * float64(v)
	}
	nrm = math.Max(math.Sqrt(nrm), 1e-7)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if trans {
				x[j*rows+i] = float64(g[i*cols+j]) / nrm
			} else {
				x[i*cols+j] = float64(g[i*cols+j]) / nrm
			}
		}
	}
	mm := func(a, b []float64, n, k, m int, tb bool) []float64 {
		out := make([]float64, n*m)
		for i := 0; i < n; i++ {
			for j := 0; j < m; j++ {
				var s float64
				for p := 0; p < k; p++ {
					if tb {
						s += a[i*k+p] * b[j*k+p]
					} else {
						s += a[i*k+p] * b[p*m+j]
					}
				}
				out[i*m+j] = s
			}
		}
		return out
	}
	for range steps {
		A := mm(x, x, r, c, r, true)
		AA := mm(A, A, r, r, r, false)
		B := make([]float64, r*r)
		for i := range B {
			B[i] = nsB*A[i] + nsC*AA[i]
		}
		BX := mm(B, x, r, r, c, false)
		for i := range x {
			x[i] = nsA*x[i] + BX[i]
		}
	}
	out := make([]float64, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if trans {
				out[i*cols+j] = x[j*rows+i]
			} else {
				out[i*cols+j] = x[i*cols+j]
			}
		}
	}
	return out
}

func BenchmarkAdamW(b *testing.B) {
	r := newRand(1)
	n := 1 << 20
	p := &Param{W: randn(r, n, 1), G: randn(r, n, 1), Decay: true}
	o := NewAdamW(1e-3, 0.01)
	b.ReportAllocs()
	b.SetBytes(int64(n) * 4 * 7)
	for b.Loop() {
		o.Step([]*Param{p})
	}
}

func TestMuonStep(t *testing.T) {
	r := newRand(12)
	rows, cols := 6, 10
	w0, g := randn(r, rows*cols, 1), randn(r, rows*cols, 1)
	p := &Param{W: append([]float32(nil), w0...), G: g, Rows: rows, Decay: true}
	o := NewMuon(1e-2, 0.1)
	o.Step([]*Param{p})
	// First step: buf = (1−μ)·g; nesterov u = g + μ·(buf − g).
	mu := float32(0.95)
	u := make([]float32, len(g))
	for i, gi := range g {
		b := gi * (1 - mu)
		u[i] = gi + (b-gi)*mu
	}
	want := newtonSchulzRef(u, rows, cols, 5)
	lr := 1e-2 * 0.2 * math.Sqrt(float64(cols))
	for i := range want {
		want[i] = float64(w0[i])*(1-1e-2*0.1) - lr*want[i]
	}
	checkClose64(t, "muon w", p.W, want, 1e-6, 1e-4)
}

// TestKernelsDoNotAllocate checks the steady state of the row kernels: at
// most the closure and wait group of one parallel call.
func TestKernelsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops entries at random under the race detector")
	}
	r := newRand(13)
	n, c := 64, 512
	x, w := randn(r, n*c, 1), randn(r, c, 1)
	y, rstd, dx, dw := make([]float32, n*c), make([]float32, n), make([]float32, n*c), make([]float32, c)
	loss, gs := make([]float32, n), make([]float32, n)
	labels := make([]int32, n)
	cases := map[string]func(){
		"rmsnorm fwd": func() { RMSNormForward(y, rstd, x, w, n, c, 1e-6) },
		"rmsnorm bwd": func() { RMSNormBackward(dx, dw, x, x, w, rstd, n, c) },
		"softmax":     func() { SoftmaxForward(y, x, n, c) },
		"ce":          func() { CrossEntropy(loss, dx, x, labels, gs, n, c) },
		"kl":          func() { VocabLoss(LossKL, loss, dx, x, y, gs, n, c, 0) },
		"silu":        func() { SiLUGateForward(y, x, x) },
	}
	for name, f := range cases {
		f()
		a := testing.AllocsPerRun(20, f)
		t.Logf("%s: %.1f allocations per call", name, a)
		if a > 4 {
			t.Errorf("%s: %.1f allocations per call", name, a)
		}
	}
}

func TestEmbeddingAndCrossEntropyGradFD(t *testing.T) {
	r := newRand(14)
	v, c := 7, 5
	w := randn(r, v*c, 1)
	ids := []int32{2, 6, 2, 0}
	out := make([]float32, len(ids)*c)
	rr := randn(r, len(out), 1)
	f := func() float64 {
		if err := EmbeddingForward(out, w, ids, v, c); err != nil {
			t.Fatal(err)
		}
		return weighted(rr, out)
	}
	dw := make([]float32, v*c)
	EmbeddingBackward(dw, rr, ids, c)
	checkGrad(t, "embedding dw", w, dw, f, 1e-2, 1e-3, 1e-3, 100)

	T, V := 4, 11
	logits := randn(r, T*V, 2)
	labels := []int32{3, 0, -1, 10}
	gs := []float32{1, 0.5, 1, 2}
	loss, dz := make([]float32, T), make([]float32, T*V)
	CrossEntropy(loss, dz, logits, labels, gs, T, V)
	g := func() float64 {
		CrossEntropy(loss, nil, logits, labels, nil, T, V)
		var s float64
		for i, l := range loss {
			s += float64(gs[i]) * float64(l)
		}
		return s
	}
	checkGrad(t, "cross-entropy dlogits", logits, dz, g, 1e-2, 1e-3, 1e-2, 100)
}
