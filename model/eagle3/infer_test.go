package eagle3

import (
	"math/rand/v2"
	"testing"
)

// TestDrafterMatchesTraining: on one document, the drafter's Extend (in
// chunks), Step from the fused hidden state, and Step after Truncate all
// give the training forward's step-0 logits and hidden states.
func TestDrafterMatchesTraining(t *testing.T) {
	defer func(w int) { attendSerialWork = w }(attendSerialWork)
	for _, thr := range []int{attendSerialWork, 0} { // attention inline, then over the workers
		attendSerialWork = thr
		testDrafterMatchesTraining(t)
	}
}

func testDrafterMatchesTraining(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			f, g := loadGolden(t, name)
			m, _, _ := goldenSetup(t, f, g)
			const T = 20
			rng := rand.New(rand.NewPCG(1, 2))
			b := NewBatch(T, m.A*m.H, m.H)
			for i := range T {
				b.IDs[i] = int32(rng.IntN(m.V))
				b.Pos[i] = int32(i + 1)
				b.Mask[i] = 1
			}
			for i := range b.Aux {
				b.Aux[i] = float32(rng.NormFloat64())
			}
			ws := m.NewWorkspace(T, 1)
			if _, err := m.Forward(ws, b, StepOptions{TTTSteps: 1}); err != nil {
				t.Fatal(err)
			}
			want, wantH := ws.logits[:T*m.Vd], ws.steps[0].hOut[:T*m.H]
			near := func(what string, got, want []float32) {
				t.Helper()
				for i := range want {
					if !relClose(float64(got[i]), float64(want[i]), 1e-4, 1e-5) {
						t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
					}
				}
			}
			d := m.NewDrafter(64, 16)
			AH := m.A * m.H
			h1, l1, err := d.Extend(b.IDs[:7], b.Aux[:7*AH], 1)
			if err != nil {
				t.Fatal(err)
			}
			near("chunk 1 logits", l1, want[:7*m.Vd])
			near("chunk 1 hidden", h1, wantH[:7*m.H])
			_, l2, err := d.Extend(b.IDs[7:T-1], b.Aux[7*AH:(T-1)*AH], 8)
			if err != nil {
				t.Fatal(err)
			}
			near("chunk 2 logits", l2, want[7*m.Vd:(T-1)*m.Vd])
			h0 := ws.h0[(T-1)*m.H : T*m.H]
			hs, ls, err := d.Step(b.IDs[T-1], h0, T)
			if err != nil {
				t.Fatal(err)
			}
			near("step logits", ls, want[(T-1)*m.Vd:])
			near("step hidden", hs, wantH[(T-1)*m.H:])
			// ExtendLast: the last position's outputs alone, and a cache
			// that serves the Step after it the same.
			dl := m.NewDrafter(64, 16)
			for _, c := range [][2]int{{0, 1}, {1, 8}, {8, T - 1}} {
				hl, ll, err := dl.ExtendLast(b.IDs[c[0]:c[1]], b.Aux[c[0]*AH:c[1]*AH], c[0]+1)
				if err != nil {
					t.Fatal(err)
				}
				if len(ll) != m.Vd || len(hl) != m.H {
					t.Fatalf("ExtendLast returned %d logits and %d hidden values, want %d and %d", len(ll), len(hl), m.Vd, m.H)
				}
				near("ExtendLast logits", ll, want[(c[1]-1)*m.Vd:c[1]*m.Vd])
				near("ExtendLast hidden", hl, wantH[(c[1]-1)*m.H:c[1]*m.H])
			}
			hsl, lsl, err := dl.Step(b.IDs[T-1], ws.h0[(T-1)*m.H:T*m.H], T)
			if err != nil {
				t.Fatal(err)
			}
			near("step after ExtendLast logits", lsl, want[(T-1)*m.Vd:])
			near("step after ExtendLast hidden", hsl, wantH[(T-1)*m.H:])
			if d.Len() != T {
				t.Fatalf("Len %d, want %d", d.Len(), T)
			}
			// A rejected draft: drop it and feed the position again.
			d.Truncate(T - 1)
			_, ls, err = d.Step(b.IDs[T-1], h0, T)
			if err != nil {
				t.Fatal(err)
			}
			near("logits after Truncate", ls, want[(T-1)*m.Vd:])
			tok := m.ArgmaxTarget(ls)
			if tok < 0 || int(tok) >= m.V || (m.T2D != nil && !m.T2D[tok]) {
				t.Errorf("ArgmaxTarget %d is not a draft-vocabulary token", tok)
			}
			if _, _, err := d.Extend(b.IDs[:1], b.Aux[:AH-1], 1); err == nil {
				t.Error("short aux accepted")
			}
			if _, _, err := d.Step(int32(m.V), h0, 1); err == nil {
				t.Error("out-of-vocabulary id accepted")
			}
		})
	}
}

// TestDrafterDoesNotAllocate: a draft Step and a short Extend (the
// verified tokens of one speculative round) allocate nothing.
func TestDrafterDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			f, g := loadGolden(t, name)
			m, _, _ := goldenSetup(t, f, g)
			AH := m.A * m.H
			ids := []int32{1, 2, 3, 4}
			aux := make([]float32, len(ids)*AH)
			for i := range aux {
				aux[i] = float32(i%7) / 7
			}
			d := m.NewDrafter(64, 16)
			hid, _, err := d.Extend(ids, aux, 1)
			if err != nil {
				t.Fatal(err)
			}
			h := append([]float32(nil), hid[3*m.H:]...)
			step := func() {
				if _, _, err := d.Step(5, h, 5); err != nil {
					t.Fatal(err)
				}
				d.Truncate(4)
			}
			extend := func() {
				if _, _, err := d.Extend(ids, aux, 5); err != nil {
					t.Fatal(err)
				}
				d.Truncate(4)
			}
			extendLast := func() {
				if _, _, err := d.ExtendLast(ids, aux, 5); err != nil {
					t.Fatal(err)
				}
				d.Truncate(4)
			}
			for what, f := range map[string]func(){"Step": step, "Extend": extend, "ExtendLast": extendLast} {
				f()
				if a := testing.AllocsPerRun(20, f); a != 0 {
					t.Errorf("%s: %v allocations per call", what, a)
				}
			}
		})
	}
}
