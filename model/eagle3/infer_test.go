package eagle3

import (
	"math"
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

// TestDrafterBF16Weights: with every linear weight a bfloat16 number (a
// draft loaded from a bf16 checkpoint) the drafter computes from bf16
// copies and gives the float32 drafter's outputs bit for bit.
func TestDrafterBF16Weights(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			f, g := loadGolden(t, name)
			m, _, _ := goldenSetup(t, f, g)
			if d := m.NewDrafter(8, 8); len(d.bf16) != 0 {
				t.Fatalf("float32 draft got %d bf16 copies", len(d.bf16))
			}
			ws := [][]float32{m.FC.W, m.LMHead}
			for _, ly := range m.Layers {
				ws = append(ws, ly.Q.W, ly.K.W, ly.V.W, ly.O.W, ly.Gate.W, ly.Up.W, ly.Down.W)
			}
			for _, w := range ws {
				for i, v := range w {
					w[i] = math.Float32frombits(math.Float32bits(v) &^ 0xffff)
				}
			}
			fast, slow := m.NewDrafter(64, 16), m.NewDrafter(64, 16)
			if len(fast.bf16) != len(ws) {
				t.Fatalf("%d bf16 copies, want %d", len(fast.bf16), len(ws))
			}
			slow.bf16 = nil
			rng := rand.New(rand.NewPCG(3, 4))
			AH := m.A * m.H
			ids := make([]int32, 6)
			aux := make([]float32, len(ids)*AH)
			for i := range ids {
				ids[i] = int32(rng.IntN(m.V))
			}
			for i := range aux {
				aux[i] = float32(rng.NormFloat64())
			}
			same := func(what string, a, b []float32) {
				t.Helper()
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("%s[%d]: bf16 %g, float32 %g", what, i, a[i], b[i])
					}
				}
			}
			h1, l1, err1 := fast.Extend(ids[:4], aux[:4*AH], 1)
			h2, l2, err2 := slow.Extend(ids[:4], aux[:4*AH], 1)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			same("Extend logits", l1, l2)
			same("Extend hidden", h1, h2)
			h1, l1, _ = fast.ExtendLast(ids[4:], aux[4*AH:], 5)
			h2, l2, _ = slow.ExtendLast(ids[4:], aux[4*AH:], 5)
			same("ExtendLast logits", l1, l2)
			same("ExtendLast hidden", h1, h2)
			for s := range 3 {
				h1, l1, _ = fast.Step(ids[s], h1, 7+s)
				h2, l2, _ = slow.Step(ids[s], h2, 7+s)
				same("Step logits", l1, l2)
				same("Step hidden", h1, h2)
			}
		})
	}
}
