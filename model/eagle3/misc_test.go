package eagle3

import (
	"math"
	"testing"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/tensor"
)

func TestParseLoss(t *testing.T) {
	good := map[string][]LossTerm{
		"kl_div":                    {{Kind: tensor.LossKL, Weight: 1}},
		"lk_hybrid":                 {{Kind: tensor.LossLKHybrid, Weight: 1}},
		`{"ce": 0.1, "tv": 0.9}`:    {{Kind: tensor.LossCE, Weight: 0.1}, {Kind: tensor.LossTV, Weight: 0.9}},
		`{"tv": 2, "kl_div": 1e-1}`: {{Kind: tensor.LossTV, Weight: 2}, {Kind: tensor.LossKL, Weight: 0.1}},
		`{"nla": 1, "nla": 3}`:      {{Kind: tensor.LossNLA, Weight: 3}},
	}
	for spec, want := range good {
		got, err := ParseLoss(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", spec, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", spec, got, want)
			}
		}
	}
	for _, spec := range []string{"", "kl", "{}", "[]", `{"ce": "0.1"}`, `{"xx": 1}`, `{"ce": 1`, `{"ce": 1} x`, `{"ce": true}`} {
		if _, err := ParseLoss(spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

func FuzzParseLoss(f *testing.F) {
	for _, s := range []string{"kl_div", `{"ce": 0.1, "tv": 0.9}`, `{"a":}`, "{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := ParseLoss(s)
		if err == nil && len(terms) == 0 {
			t.Fatal("no terms and no error")
		}
	})
}

// TestPackVectors: training-spec §9 items 11 (shift_batch) and 12 (collate).
func TestPackVectors(t *testing.T) {
	const AH, H = 2, 1
	mk := func(S int, base float32) Sample {
		s := Sample{IDs: make([]int32, S), LossMask: make([]float32, S), Aux: make([]float32, S*AH), VerifierLast: make([]float32, S*H)}
		for i := range S {
			s.IDs[i] = int32(i)
			s.VerifierLast[i] = base + float32(i)
			s.Aux[i*AH], s.Aux[i*AH+1] = float32(i), -float32(i)
		}
		return s
	}
	// §9.11: x = [0..4], mask [0,0,1,1,1], y = [10..14].
	s := mk(5, 10)
	copy(s.LossMask, []float32{0, 0, 1, 1, 1})
	b := NewBatch(4, AH, H)
	if err := Pack(b, []Sample{s}, AH, H); err != nil {
		t.Fatal(err)
	}
	eqI := func(what string, got []int32, want ...int32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s = %v, want %v", what, got[:len(want)], want)
			}
		}
	}
	eqF := func(what string, got []float32, want ...float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s = %v, want %v", what, got[:len(want)], want)
			}
		}
	}
	eqI("ids", b.IDs, 1, 2, 3, 4)
	eqI("pos", b.Pos, 1, 2, 3, 4)
	eqF("mask", b.Mask, 0, 1, 1, 1)
	eqF("y", b.VerifierLast, 11, 12, 13, 14)
	eqF("aux", b.Aux, 0, 0, 1, -1, 2, -2, 3, -3)
	// §9.12: shifted lengths [2, 6] with T = 10 (rows of 3 and 7), then padding.
	b = NewBatch(10, AH, H)
	if err := Pack(b, []Sample{mk(3, 0), mk(7, 0)}, AH, H); err != nil {
		t.Fatal(err)
	}
	eqI("doc", b.Doc, 0, 0, 1, 1, 1, 1, 1, 1, -1, -1)
	eqI("pos", b.Pos, 1, 2, 1, 2, 3, 4, 5, 6, 0, 0)
	// Lengths [5, 7] (shifted) with T = 11: the second is cut to 6.
	b = NewBatch(11, AH, H)
	if err := Pack(b, []Sample{mk(6, 0), mk(8, 0)}, AH, H); err != nil {
		t.Fatal(err)
	}
	eqI("doc", b.Doc, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1)
	if err := Pack(b, []Sample{{IDs: []int32{1, 2}, LossMask: []float32{1}}}, AH, H); err == nil {
		t.Error("mismatched sample accepted")
	}
}

// TestNoise: uniform in [−std, std), seeded, only on non-padding rows, and
// without touching the batch.
func TestNoise(t *testing.T) {
	f, g := loadGolden(t, "llama_default")
	m, b, _ := goldenSetup(t, f, g)
	ws := m.NewWorkspace(g.T, g.K)
	orig := append([]float32(nil), b.Aux...)
	run := func(seed uint64) []float32 {
		if _, err := m.Forward(ws, b, StepOptions{NoiseStd: 0.05, NoiseSeed: seed}); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), ws.src...)
	}
	a1, a2, a3 := run(1), run(1), run(2)
	AH := m.A * m.H
	var maxd, sum float64
	n := 0
	for i := range a1 {
		if a1[i] != a2[i] {
			t.Fatal("same seed, different noise")
		}
		d := float64(a1[i] - orig[i])
		if b.Doc[i/AH] == -1 {
			if d != 0 {
				t.Fatal("noise on padding")
			}
			continue
		}
		if d < -0.05-1e-6 || d >= 0.05+1e-6 {
			t.Fatalf("noise %g outside [-0.05, 0.05)", d)
		}
		maxd = max(maxd, math.Abs(d))
		sum += d
		n++
	}
	if maxd < 0.045 || math.Abs(sum/float64(n)) > 0.005 {
		t.Errorf("noise not uniform on [-0.05, 0.05): max |d| %g, mean %g", maxd, sum/float64(n))
	}
	same := 0
	for i := range a1 {
		if a1[i] == a3[i] {
			same++
		}
	}
	if same > len(a1)/2 {
		t.Error("different seeds give the same noise")
	}
	for i := range orig {
		if b.Aux[i] != orig[i] {
			t.Fatal("Forward modified the batch")
		}
	}
}

// TestStepDecay: training-spec §9.2 — with γ the step-k loss is γ^k times
// the undecayed one, and the total is their sum.
func TestStepDecay(t *testing.T) {
	f, g := loadGolden(t, "llama_default")
	m, b, _ := goldenSetup(t, f, g)
	ws := m.NewWorkspace(g.T, g.K)
	met, err := m.Forward(ws, b, StepOptions{StepDecay: 1})
	if err != nil {
		t.Fatal(err)
	}
	var base []float64
	for k := range met.Steps {
		base = append(base, met.Steps[k].LossSum)
	}
	met, err = m.Forward(ws, b, StepOptions{StepDecay: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for k := range met.Steps {
		want := base[k] * math.Pow(0.5, float64(k))
		if !relClose(met.Steps[k].LossSum, want, 1e-6, 0) {
			t.Errorf("loss_%d = %g, want %g", k, met.Steps[k].LossSum, want)
		}
		total += want
	}
	if !relClose(met.Loss(), total, 1e-6, 0) {
		t.Errorf("loss %g, want %g", met.Loss(), total)
	}
	if al := met.AcceptanceLength(); !relClose(al, 1+met.FullAcc(0)+met.FullAcc(1)+met.FullAcc(2), 1e-12, 0) {
		t.Errorf("acceptance length %g", al)
	}
}

// TestMetricsAdd: §9.18 normalisation, sums over batches then divided.
func TestMetricsAdd(t *testing.T) {
	a := Metrics{LossSum: 6, LossTotal: 2, Steps: []StepMetrics{{LossSum: 2, LossTotal: 1, FullCorrect: 3, FullTotal: 4, CondCorrect: 3, CondTotal: 4}}}
	var acc Metrics
	acc.Add(&a)
	acc.Add(&a)
	v := acc.Values()
	if v["loss"] != 3 || v["loss_0"] != 2 || v["full_acc_0"] != 0.75 || v["cond_acc_0"] != 0.75 || v["acceptance_length"] != 1.75 {
		t.Errorf("%v", v)
	}
	var z Metrics
	z.Steps = make([]StepMetrics, 1)
	if v := z.Values(); v["full_acc_0"] != 0 || v["loss"] != 0 {
		t.Errorf("zero totals: %v", v)
	}
}

// TestForwardAllocs: the step loop allocates nothing of its own; what
// remains is the compute core's goroutine hand-off (a few small objects
// per kernel call), bounded here.
func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f, g := loadGolden(t, "qwen3_two_layers")
	m, b, terms := goldenSetup(t, f, g)
	ws := m.NewWorkspace(g.T, g.K)
	opt := StepOptions{Loss: terms, Grad: true, NoiseStd: 0.05}
	step := func() {
		m.ZeroGrad()
		if _, err := m.Forward(ws, b, opt); err != nil {
			t.Fatal(err)
		}
		m.Backward(ws)
	}
	step()
	if n := testing.AllocsPerRun(5, step); n > 600 {
		t.Errorf("%v allocations per step", n)
	} else {
		t.Logf("%v allocations per step (compute-core closures)", n)
	}
}

func TestNewRejectsHostileConfigs(t *testing.T) {
	_, g := loadGolden(t, "llama_default")
	neg := -8
	three := 3
	edits := map[string]func(*config.Speculator){
		"huge": func(c *config.Speculator) {
			c.TransformerLayerConfig.HiddenSize, c.TransformerLayerConfig.VocabSize, c.Eagle3.DraftVocabSize = 1<<20, 1<<20, 1<<20
		},
		"vd > v":        func(c *config.Speculator) { c.Eagle3.DraftVocabSize = c.TransformerLayerConfig.VocabSize + 1 },
		"kv heads":      func(c *config.Speculator) { c.TransformerLayerConfig.NumKeyValueHeads = &three },
		"zero layers":   func(c *config.Speculator) { c.TransformerLayerConfig.NumHiddenLayers = 0 },
		"negative head": func(c *config.Speculator) { c.TransformerLayerConfig.HeadDim = &neg },
		"both norms":    func(c *config.Speculator) { c.Eagle3.FCNorm = true },
		"gelu":          func(c *config.Speculator) { c.TransformerLayerConfig.HiddenAct = "gelu" },
		"mistral":       func(c *config.Speculator) { c.TransformerLayerConfig.ModelType = "mistral" },
		"bad eps":       func(c *config.Speculator) { c.TransformerLayerConfig.RMSNormEps = "x" },
		"bad rope": func(c *config.Speculator) {
			c.TransformerLayerConfig.RopeScaling = map[string]any{"rope_type": "dynamic2"}
		},
	}
	for name, edit := range edits {
		c := goldenConfig(t, g)
		edit(c)
		if _, err := New(c, Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRopeConfig: rope_theta/rope_scaling and transformers 5
// rope_parameters map to the kernel's config.
func TestRopeConfig(t *testing.T) {
	l := &config.LayerConfig{RopeTheta: "500000.0", MaxPositionEmbeddings: 8192,
		RopeScaling: map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192.0}}
	rc, err := ropeConfig(l, 64)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Theta != 500000 || rc.Scaling == nil || rc.Scaling.RopeType != "llama3" || rc.Scaling.Factor != 8 || rc.HeadDim != 64 {
		t.Errorf("%+v %+v", rc, rc.Scaling)
	}
	l = &config.LayerConfig{RopeParameters: map[string]any{"rope_theta": 1000000.0, "rope_type": "default"}}
	if rc, err = ropeConfig(l, 128); err != nil || rc.Theta != 1e6 || rc.Scaling != nil {
		t.Errorf("rope_parameters: %+v %v", rc, err)
	}
	l = &config.LayerConfig{RopeParameters: map[string]any{"rope_theta": 10000.0, "rope_type": "linear", "factor": 2.0}}
	if rc, err = ropeConfig(l, 128); err != nil || rc.Scaling == nil || rc.Scaling.Factor != 2 {
		t.Errorf("linear rope_parameters: %+v %v", rc, err)
	}
	l = &config.LayerConfig{RopeScaling: map[string]any{"factor": "x"}}
	if _, err = ropeConfig(l, 128); err == nil {
		t.Error("bad rope_scaling accepted")
	}
}

// TestAccuracyChain: training-spec §9.14.
func TestAccuracyChain(t *testing.T) {
	prev := []bool{true, true, true, true}
	mask := []float32{1, 1, 1, 1}
	c, full, cond := accuracyStep(prev, []int32{1, 2, 3, 0}, []int32{1, 2, 3, 4}, mask)
	if c/full != 0.75 || c/cond != 0.75 || !prev[0] || !prev[1] || !prev[2] || prev[3] {
		t.Errorf("step 0: full %g cond %g prev %v", c/full, c/cond, prev)
	}
	c, full, cond = accuracyStep(prev, []int32{1, 2, 0, 4}, []int32{1, 2, 5, 4}, mask)
	if c/full != 0.5 || c/cond != 2.0/3 || !prev[0] || !prev[1] || prev[2] || prev[3] {
		t.Errorf("step 1: full %g cond %g prev %v", c/full, c/cond, prev)
	}
}

// TestDraftTokens: §9.2, one (T) draft-token row per TTT step.
func TestDraftTokens(t *testing.T) {
	f, g := loadGolden(t, "llama_default")
	m, b, _ := goldenSetup(t, f, g)
	ws := m.NewWorkspace(g.T, g.K)
	if _, err := m.Forward(ws, b, StepOptions{}); err != nil {
		t.Fatal(err)
	}
	for k := range g.K {
		d := ws.DraftTokens(k)
		if len(d) != g.T {
			t.Fatalf("step %d: %d tokens", k, len(d))
		}
		for _, id := range d {
			if id < 0 || int(id) >= m.Vd {
				t.Fatalf("draft token %d outside the draft vocabulary", id)
			}
		}
	}
}

// TestWorkspaceReuse: a larger workspace, reused across batches and steps,
// gives the same loss and gradients as a fresh exact-size one.
func TestWorkspaceReuse(t *testing.T) {
	f, g := loadGolden(t, "qwen3_two_layers")
	m, b, terms := goldenSetup(t, f, g)
	opt := StepOptions{Loss: terms, StepDecay: g.Gamma, Grad: true}
	run := func(ws *Workspace) (float64, [][]float32) {
		m.ZeroGrad()
		met, err := m.Forward(ws, b, opt)
		if err != nil {
			t.Fatal(err)
		}
		m.Backward(ws)
		var gs [][]float32
		for _, p := range m.Params() {
			gs = append(gs, append([]float32(nil), p.G...))
		}
		return met.Loss(), gs
	}
	l0, g0 := run(m.NewWorkspace(g.T, g.K))
	big := m.NewWorkspace(g.T+9, g.K+2)
	small := *b
	small.T = 5
	if _, err := m.Forward(big, &small, StepOptions{TTTSteps: 2}); err != nil {
		t.Fatal(err)
	}
	l1, g1 := run(big)
	if l0 != l1 {
		t.Errorf("loss %g, want %g", l1, l0)
	}
	for i := range g0 {
		for j := range g0[i] {
			if g0[i][j] != g1[i][j] {
				t.Fatalf("%s[%d]: %g, want %g", m.Params()[i].Name, j, g1[i][j], g0[i][j])
			}
		}
	}
	if _, err := m.Forward(m.NewWorkspace(4, 1), b, opt); err == nil {
		t.Error("batch longer than the workspace accepted")
	}
}
