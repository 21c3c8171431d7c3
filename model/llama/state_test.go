package llama

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
)

func loadTiny(t testing.TB, o testmodel.Options) *Model {
	t.Helper()
	dir := filepath.Join(t.TempDir(), o.Arch)
	if err := testmodel.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// closeRel fails when max|got−want| > tol·max(max|want|, 1e-3).
func closeRel(t *testing.T, name string, got, want []float32, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	var md, mw float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= md) {
			md = d
		}
		mw = math.Max(mw, math.Abs(float64(want[i])))
	}
	if !(md <= tol*math.Max(mw, 1e-3)) {
		t.Errorf("%s: max abs diff %g, max |want| %g, rel %g > %g", name, md, mw, md/mw, tol)
	}
	return md / math.Max(mw, 1e-3)
}

var stateCases = func() []testmodel.Options {
	var cs []testmodel.Options
	for _, a := range []string{"llama", "mistral", "qwen2", "qwen3"} {
		cs = append(cs, testmodel.Tiny(a))
	}
	w := testmodel.Tiny("mistral")
	w.SlidingWindow = 5
	cs = append(cs, w)
	q := testmodel.Tiny("qwen2")
	q.UseSlidingWindow, q.SlidingWindow, q.MaxWindowLayers = true, 4, 1
	cs = append(cs, q)
	b := testmodel.Tiny("qwen3")
	b.DType, b.Seed = "BF16", 9
	cs = append(cs, b)
	return cs
}()

func seqIDs(n, seed, v int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32((i*7919 + seed*104729 + 13) % v)
	}
	return ids
}

// TestDecodeEqualsRecompute: prefill then one-token steps (and a 3-token
// extension) give the logits and hidden states of one full prefill.
func TestDecodeEqualsRecompute(t *testing.T) {
	for _, o := range stateCases {
		t.Run(fmt.Sprintf("%s_w%d", o.Arch, o.SlidingWindow), func(t *testing.T) {
			m := loadTiny(t, o)
			ids := seqIDs(14, 1, m.V())
			capture := []int{0, 2, m.N()}
			opt := ForwardOptions{Logits: LogitsAll, Capture: capture}
			full := m.NewState(1)
			fo, err := full.ForwardSeq(0, ids, opt)
			if err != nil {
				t.Fatal(err)
			}
			wantL := append([]float32(nil), fo.Logits...)
			wantH := append([]float32(nil), fo.Hidden...)
			V, AH := m.V(), len(capture)*m.H()
			s := m.NewState(1)
			steps := [][2]int{{0, 6}, {6, 7}, {7, 8}, {8, 11}, {11, 12}, {12, 14}}
			for _, st := range steps {
				out, err := s.ForwardSeq(0, ids[st[0]:st[1]], opt)
				if err != nil {
					t.Fatal(err)
				}
				closeRel(t, fmt.Sprint("logits ", st), out.Logits, wantL[st[0]*V:st[1]*V], 1e-5)
				closeRel(t, fmt.Sprint("hidden ", st), out.Hidden, wantH[st[0]*AH:st[1]*AH], 1e-5)
			}
			if s.Len(0) != len(ids) {
				t.Errorf("len %d, want %d", s.Len(0), len(ids))
			}
		})
	}
}

// TestTruncateContinue: decoding junk, truncating it away and continuing
// equals never having decoded it.
func TestTruncateContinue(t *testing.T) {
	for _, o := range stateCases {
		t.Run(fmt.Sprintf("%s_w%d", o.Arch, o.SlidingWindow), func(t *testing.T) {
			m := loadTiny(t, o)
			prompt := seqIDs(9, 2, m.V())
			cont := seqIDs(4, 3, m.V())
			junk := seqIDs(5, 4, m.V())
			opt := ForwardOptions{Logits: LogitsAll, Capture: []int{1, m.N()}}
			ref := m.NewState(1)
			if _, err := ref.ForwardSeq(0, prompt, opt); err != nil {
				t.Fatal(err)
			}
			ro, err := ref.ForwardSeq(0, cont, opt)
			if err != nil {
				t.Fatal(err)
			}
			wantL, wantH := append([]float32(nil), ro.Logits...), append([]float32(nil), ro.Hidden...)

			s := m.NewState(1)
			if _, err := s.ForwardSeq(0, prompt, opt); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ForwardSeq(0, junk[:3], opt); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ForwardSeq(0, junk[3:], opt); err != nil {
				t.Fatal(err)
			}
			if err := s.Truncate(0, len(prompt)); err != nil {
				t.Fatal(err)
			}
			got, err := s.ForwardSeq(0, cont, opt)
			if err != nil {
				t.Fatal(err)
			}
			closeRel(t, "logits", got.Logits, wantL, 1e-6)
			closeRel(t, "hidden", got.Hidden, wantH, 1e-6)
			if err := s.Truncate(0, 100); err == nil {
				t.Error("truncate beyond length accepted")
			}
		})
	}
}

// TestBatchEqualsSingle: a batch of sequences with different lengths and
// new-token counts gives each sequence's own results.
func TestBatchEqualsSingle(t *testing.T) {
	m := loadTiny(t, testmodel.Tiny("qwen3"))
	a, b, c := seqIDs(7, 5, m.V()), seqIDs(3, 6, m.V()), seqIDs(5, 7, m.V())
	opt := ForwardOptions{Logits: LogitsAll, Capture: []int{2, m.N()}}
	bs := m.NewState(3)
	if _, err := bs.Forward([][]int32{a[:4], b, nil}, opt); err != nil {
		t.Fatal(err)
	}
	out, err := bs.Forward([][]int32{a[4:], b[:1], c}, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, seq := range [][]int32{a, append(b[:3:3], b[0]), c} {
		s := m.NewState(1)
		o1, err := s.ForwardSeq(0, seq, opt)
		if err != nil {
			t.Fatal(err)
		}
		n := out.Offsets[i+1] - out.Offsets[i]
		k := len(seq) - n
		for j := 0; j < n; j++ {
			closeRel(t, fmt.Sprint("seq ", i, " logits ", j), out.TokenLogits(i, j), o1.TokenLogits(0, k+j), 1e-5)
			closeRel(t, fmt.Sprint("seq ", i, " hidden ", j), out.TokenHidden(i, j), o1.TokenHidden(0, k+j), 1e-5)
		}
	}
	last, err := bs.Forward([][]int32{{1}, nil, {2}}, ForwardOptions{Logits: LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Logits) != 3*m.V() || last.LastLogits(1)[0] != 0 {
		t.Errorf("LogitsLast layout wrong")
	}
}

// TestDecodeAllocs: a decode step allocates nothing once the cache has room.
func TestDecodeAllocs(t *testing.T) {
	m := loadTiny(t, testmodel.Tiny("llama"))
	s := m.NewState(1)
	s.Reserve(0, 64)
	ids := []int32{5}
	if _, err := s.ForwardSeq(0, seqIDs(4, 1, m.V()), ForwardOptions{Logits: LogitsLast}); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.ForwardSeq(0, ids, ForwardOptions{Logits: LogitsLast, Capture: []int{2, 4}}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per decode step", allocs)
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadTiny(t, testmodel.Tiny("llama"))
	s := m.NewState(2)
	if _, err := s.Forward([][]int32{{1}}, ForwardOptions{}); err == nil {
		t.Error("wrong batch accepted")
	}
	if _, err := s.ForwardSeq(0, []int32{int32(m.V())}, ForwardOptions{}); err == nil {
		t.Error("token outside vocabulary accepted")
	}
	if _, err := s.ForwardSeq(0, []int32{1}, ForwardOptions{Capture: []int{m.N() + 1}}); err == nil {
		t.Error("capture id beyond N accepted")
	}
	if s.Len(0) != 0 {
		t.Error("failed forward changed the cache")
	}
}

// TestConcurrentStates: States over one shared Model run in parallel
// goroutines with the results of running alone.
func TestConcurrentStates(t *testing.T) {
	m := loadTiny(t, testmodel.Tiny("qwen2"))
	opt := ForwardOptions{Logits: LogitsAll, Capture: []int{2}}
	want := make([][]float32, 4)
	for g := range want {
		out, err := m.NewState(1).ForwardSeq(0, seqIDs(9, g, m.V()), opt)
		if err != nil {
			t.Fatal(err)
		}
		want[g] = append([]float32(nil), out.Logits...)
	}
	errs := make(chan error, len(want))
	for g := range want {
		go func() {
			s := m.NewState(1)
			ids := seqIDs(9, g, m.V())
			if _, err := s.ForwardSeq(0, ids[:4], opt); err != nil {
				errs <- err
				return
			}
			out, err := s.ForwardSeq(0, ids[4:], opt)
			if err != nil {
				errs <- err
				return
			}
			V := m.V()
			for i, v := range out.Logits {
				if d := v - want[g][4*V+i]; d > 1e-4 || d < -1e-4 {
					errs <- fmt.Errorf("goroutine %d: logit %d = %g, want %g", g, i, v, want[g][4*V+i])
					return
				}
			}
			errs <- nil
		}()
	}
	for range want {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestLongPrefillBlocks: past the attention kernel's block sizes (64
// queries, 128 keys), with and without a window, a long prefill followed by
// decode steps and a multi-token extension equals one full prefill.
func TestLongPrefillBlocks(t *testing.T) {
	for _, w := range []int{0, 70} {
		o := testmodel.Tiny("mistral")
		o.SlidingWindow = w
		m := loadTiny(t, o)
		ids := seqIDs(300, 3, m.V())
		opt := ForwardOptions{Logits: LogitsAll}
		fo, err := m.NewState(1).ForwardSeq(0, ids, opt)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]float32(nil), fo.Logits...)
		s := m.NewState(1)
		V := m.V()
		for _, st := range [][2]int{{0, 200}, {200, 201}, {201, 202}, {202, 290}, {290, 300}} {
			out, err := s.ForwardSeq(0, ids[st[0]:st[1]], opt)
			if err != nil {
				t.Fatal(err)
			}
			closeRel(t, fmt.Sprint("window ", w, " steps ", st), out.Logits, want[st[0]*V:st[1]*V], 1e-5)
		}
	}
}
