package tensor

import (
	"fmt"
	"math"
	"testing"
)

func TestVocabLossMatchesReference(t *testing.T) {
	r := newRand(21)
	T, V := 5, 97
	logits, targets := randn(r, T*V, 2), randn(r, T*V, 2)
	// Row 4: identical distributions (ties in min(p, q)).
	copy(logits[4*V:], targets[4*V:5*V])
	ones := make([]float32, T)
	for i := range ones {
		ones[i] = 1
	}
	for k := LossKind(0); int(k) < len(lossNames); k++ {
		t.Run(k.String(), func(t *testing.T) {
			loss, dz := make([]float32, T), make([]float32, T*V)
			VocabLoss(k, loss, dz, logits, targets, ones, T, V, LKHybridEta)
			wantL, wantG := VocabLossRef(k, logits, targets, T, V, LKHybridEta)
			checkClose64(t, "loss", loss, wantL, 2e-6, 2e-5)
			checkClose64(t, "grad", dz, wantG, 2e-6, 1e-4)
			// Finite differences on the fast kernel itself, away from the
			// kinks of min(p, q) (rows 0..3 only).
			rows := 4
			lr := make([]float32, rows)
			f := func() float64 {
				VocabLoss(k, lr, nil, logits[:rows*V], targets[:rows*V], nil, rows, V, LKHybridEta)
				var s float64
				for _, v := range lr {
					s += float64(v)
				}
				return s
			}
			if k == LossLKHybrid {
				// λ = exp(−η·α) is a constant (stop-gradient): hold it at its
				// value for the unperturbed logits.
				tv0 := make([]float32, rows)
				VocabLoss(LossTV, tv0, nil, logits[:rows*V], targets[:rows*V], nil, rows, V, 0)
				kl := make([]float32, rows)
				f = func() float64 {
					VocabLoss(LossKL, kl, nil, logits[:rows*V], targets[:rows*V], nil, rows, V, 0)
					VocabLoss(LossTV, lr, nil, logits[:rows*V], targets[:rows*V], nil, rows, V, 0)
					var s float64
					for i := range lr {
						w := math.Exp(-LKHybridEta * (1 - float64(tv0[i])))
						s += w*float64(kl[i]) + (1-w)*float64(lr[i])
					}
					return s
				}
			}
			if k == LossTV || k == LossNLA || k == LossLKHybrid {
				// TV is piecewise linear in q: smaller steps, fewer kinks crossed.
				checkGrad(t, "dlogits", logits[:rows*V], dz[:rows*V], f, 2e-3, 2e-3, 2e-2, 60)
			} else {
				checkGrad(t, "dlogits", logits[:rows*V], dz[:rows*V], f, 1e-2, 1e-3, 1e-2, 60)
			}
		})
	}
}

// TestLossSpecVectors checks the properties listed in training-spec §9 item 23.
func TestLossSpecVectors(t *testing.T) {
	r := newRand(22)
	V := 50
	a := randn(r, V, 1)
	loss := make([]float32, 1)
	run := func(k LossKind, z, tz []float32, eta float32) float32 {
		VocabLoss(k, loss, nil, z, tz, nil, 1, V, eta)
		return loss[0]
	}
	for _, k := range []LossKind{LossKL, LossRKL, LossJSD, LossTV} {
		if l := run(k, a, a, 3); math.Abs(float64(l)) > 1e-6 {
			t.Errorf("%v of identical inputs = %g, want 0", k, l)
		}
	}
	b := randn(r, V, 1)
	var q, p [50]float32
	SoftmaxRef(q[:], a, 1, V)
	SoftmaxRef(p[:], b, 1, V)
	var l1 float64
	for j := range q {
		l1 += math.Abs(float64(q[j] - p[j]))
	}
	if tv := run(LossTV, a, b, 0); math.Abs(float64(tv)-l1/2) > 1e-6 || tv < 0 || tv > 1 {
		t.Errorf("tv = %g, want ½·L1 = %g", tv, l1/2)
	}
	// Near-disjoint point masses: JSD → log 2.
	x, y := make([]float32, V), make([]float32, V)
	x[0], y[1] = 60, 60
	if j := run(LossJSD, x, y, 0); math.Abs(float64(j)-math.Ln2) > 1e-4 {
		t.Errorf("jsd of disjoint point masses = %g, want log 2", j)
	}
	// Point-mass target: nla equals ce.
	if n, c := run(LossNLA, a, y, 0), run(LossCE, a, y, 0); math.Abs(float64(n-c)) > 1e-5 {
		t.Errorf("nla %g != ce %g for a point-mass target", n, c)
	}
	// lk_hybrid with η = 0 is KL; with large η it tends to TV.
	if h, k := run(LossLKHybrid, a, b, 0), run(LossKL, a, b, 0); math.Abs(float64(h-k)) > 1e-6 {
		t.Errorf("lk_hybrid(η=0) %g != kl %g", h, k)
	}
	if h, tv := run(LossLKHybrid, a, b, 200), run(LossTV, a, b, 0); math.Abs(float64(h-tv)) > 1e-5 {
		t.Errorf("lk_hybrid(η=200) %g != tv %g", h, tv)
	}
}

func TestMaskedLoss(t *testing.T) {
	r := newRand(23)
	T, V := 6, 20
	logits, targets := randn(r, T*V, 1), randn(r, T*V, 1)
	mask := []float32{0, 1, 1, 0, 1, 1}
	dz := make([]float32, T*V)
	got := MaskedLoss(LossKL, dz, logits, targets, mask, 0.5, T, V, 0, make([]float32, 2*T))
	wantL, wantG := VocabLossRef(LossKL, logits, targets, T, V, 0)
	var s float64
	for i, l := range wantL {
		s += l * float64(mask[i])
	}
	want := 0.5 * s / (4 + 1e-5)
	if math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("masked loss %g, want %g", got, want)
	}
	for i := 0; i < T; i++ {
		for j := 0; j < V; j++ {
			w := wantG[i*V+j] * 0.5 * float64(mask[i]) / (4 + 1e-5)
			if math.Abs(float64(dz[i*V+j])-w) > 1e-6 {
				t.Fatalf("grad[%d,%d] = %g, want %g", i, j, dz[i*V+j], w)
			}
		}
	}
}

func TestCrossEntropy(t *testing.T) {
	r := newRand(24)
	T, V := 5, 33
	logits := randn(r, T*V, 2)
	labels := []int32{3, -100, 0, 32, 7}
	gs := []float32{1, 1, 0.5, 1, 2}
	loss, dz := make([]float32, T), make([]float32, T*V)
	CrossEntropy(loss, dz, logits, labels, gs, T, V)
	for i, y := range labels {
		if y < 0 {
			if loss[i] != 0 {
				t.Errorf("ignored row %d has loss %g", i, loss[i])
			}
			continue
		}
		lq := logSoftmax64(logits[i*V : (i+1)*V])
		if d := math.Abs(float64(loss[i]) + lq[y]); d > 1e-5 {
			t.Errorf("row %d loss %g, want %g", i, loss[i], -lq[y])
		}
		for j := range lq {
			w := math.Exp(lq[j])
			if j == int(y) {
				w--
			}
			w *= float64(gs[i])
			if math.Abs(float64(dz[i*V+j])-w) > 1e-6 {
				t.Fatalf("row %d grad %d = %g, want %g", i, j, dz[i*V+j], w)
			}
		}
	}
	// Without a gradient buffer the loss is the same.
	l2 := make([]float32, T)
	CrossEntropy(l2, nil, logits, labels, nil, T, V)
	checkClose(t, "loss without grad", l2, loss, 1e-6, 1e-6)
}

func BenchmarkCrossEntropy512x8192(b *testing.B) {
	r := newRand(1)
	T, V := 512, 8192
	logits := randn(r, T*V, 1)
	labels := make([]int32, T)
	gs := make([]float32, T)
	for i := range labels {
		labels[i] = int32(r.IntN(V))
		gs[i] = 1.0 / float32(T)
	}
	loss, dz := make([]float32, T), make([]float32, T*V)
	b.ReportAllocs()
	for b.Loop() {
		CrossEntropy(loss, dz, logits, labels, gs, T, V)
	}
}

func BenchmarkVocabLossKL512x8192(b *testing.B) {
	r := newRand(1)
	T, V := 512, 8192
	logits, targets := randn(r, T*V, 1), randn(r, T*V, 1)
	gs := make([]float32, T)
	loss, dz := make([]float32, T), make([]float32, T*V)
	b.ReportAllocs()
	for b.Loop() {
		VocabLoss(LossKL, loss, dz, logits, targets, gs, T, V, 0)
	}
}

func TestParseLossSpec(t *testing.T) {
	good := map[string][]LossTerm{
		"kl_div":                      {{LossKL, 1}},
		"lk_hybrid":                   {{LossLKHybrid, 1}},
		`{"ce": 0.1, "tv": 0.9}`:      {{LossCE, 0.1}, {LossTV, 0.9}},
		` {"jsd":2,"rkl":-1,"nla":0}`: {{LossJSD, 2}, {LossRKL, -1}, {LossNLA, 0}},
		`{"ce": 1, "tv": 3, "ce": 2}`: {{LossCE, 2}, {LossTV, 3}},
	}
	for spec, want := range good {
		got, err := ParseLossSpec(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", spec, got, want)
		}
	}
	for _, spec := range []string{"", "kl", "{}", `{"ce": "x"}`, `{"foo": 1}`, `{"ce": 1} x`, `[1]`, `{"ce": 1`, `{"ce":1,}`} {
		if _, err := ParseLossSpec(spec); err == nil {
			t.Errorf("%q: want an error", spec)
		}
	}
}

func FuzzParseLossSpec(f *testing.F) {
	for _, s := range []string{"kl_div", `{"ce": 0.1, "tv": 0.9}`, `{"ce":`, "{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		terms, err := ParseLossSpec(spec)
		if err == nil && len(terms) == 0 {
			t.Fatalf("%q: no terms and no error", spec)
		}
	})
}
