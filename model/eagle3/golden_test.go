package eagle3

import (
	"fmt"
	"math"
	"testing"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/internal/golden"
	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/tensor"
)

// Golden values come from model/eagle3/testdata/gen_golden.py (plain
// PyTorch, float32). Regenerate with:
//	/usr/bin/python3 model/eagle3/testdata/gen_golden.py

var goldenCases = []string{"llama_default", "qwen3_two_layers", "llama_plain_bias", "llama_fc_norm"}

type goldenMeta struct {
	H, A, V, Vd, NH, KVH, HD, I, L, K, T int
	Eps, Theta, Gamma                    float64
	Arch                                 string
	Lens, Windows                        []int
	AttnBias                             bool `json:"attn_bias"`
	MLPBias                              bool `json:"mlp_bias"`
	NormBeforeFC                         bool `json:"norm_before_fc"`
	FCNorm                               bool `json:"fc_norm"`
	NormOutput                           bool `json:"norm_output"`
	NormBeforeResidual                   bool `json:"norm_before_residual"`
}

func loadGolden(t *testing.T, name string) (*golden.File, goldenMeta) {
	t.Helper()
	f, err := golden.Open("testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenMeta
	for key, dst := range map[string]any{"H": &g.H, "A": &g.A, "V": &g.V, "Vd": &g.Vd, "NH": &g.NH, "KVH": &g.KVH, "HD": &g.HD,
		"I": &g.I, "L": &g.L, "K": &g.K, "T": &g.T, "eps": &g.Eps, "theta": &g.Theta, "gamma": &g.Gamma, "arch": &g.Arch,
		"lens": &g.Lens, "windows": &g.Windows, "attn_bias": &g.AttnBias, "mlp_bias": &g.MLPBias,
		"norm_before_fc": &g.NormBeforeFC, "fc_norm": &g.FCNorm, "norm_output": &g.NormOutput,
		"norm_before_residual": &g.NormBeforeResidual} {
		if err := f.MetaInto(key, dst); err != nil {
			t.Fatalf("%s: meta %s: %v", name, key, err)
		}
	}
	return f, g
}

// goldenConfig builds the eagle3 config of a golden case.
func goldenConfig(t testing.TB, g goldenMeta) *config.Speculator {
	o := testckpt.Tiny()
	o.ModelType = g.Arch
	o.Hidden, o.Heads, o.KVHeads, o.HeadDim, o.Intermediate, o.Layers = g.H, g.NH, g.KVH, g.HD, g.I, g.L
	o.Vocab, o.DraftVocab = g.V, g.Vd
	o.AuxIDs = []int{2, 5, 8}[:g.A]
	o.NormBeforeFC, o.FCNorm, o.NormOutput, o.NormBeforeResidual = g.NormBeforeFC, g.FCNorm, g.NormOutput, g.NormBeforeResidual
	o.AttentionBias = g.AttnBias
	o.SpeculativeTokens = g.K
	c, err := testckpt.Config(o)
	if err != nil {
		t.Fatal(err)
	}
	l := &c.TransformerLayerConfig
	l.RMSNormEps = config.Float(g.Eps)
	l.RopeTheta = config.Float(g.Theta)
	l.MLPBias = g.MLPBias
	sw := 0
	for i, w := range g.Windows {
		if w > 0 {
			sw = w
			l.LayerTypes[i] = "sliding_attention"
		} else {
			l.LayerTypes[i] = "full_attention"
		}
	}
	for _, w := range g.Windows {
		if w > 0 && w != sw {
			t.Fatal("golden cases use one sliding window")
		}
	}
	l.SlidingWindow = &sw
	return c
}

func f32(t testing.TB, f *golden.File, name string) []float32 {
	t.Helper()
	x, _, err := f.F32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func i32(t testing.TB, f *golden.File, name string) []int32 {
	t.Helper()
	x, _, err := f.I32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// goldenSetup builds the model with the golden weights and the batch packed
// from the golden samples by Pack.
func goldenSetup(t testing.TB, f *golden.File, g goldenMeta) (*Model, *Batch, []LossTerm) {
	m, err := New(goldenConfig(t, g), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := f.MetaInto("params", &names); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*tensor.Param{}
	for _, p := range m.Params() {
		byName[p.Name] = p
	}
	if len(names) != len(m.Params()) {
		t.Fatalf("reference has %d trainable tensors, model %d", len(names), len(m.Params()))
	}
	for i, n := range names {
		p := byName[n]
		if p == nil {
			t.Fatalf("model has no parameter %s", n)
		}
		if m.Params()[i].Name != n {
			t.Errorf("parameter %d is %s, Python's named_parameters has %s", i, m.Params()[i].Name, n)
		}
		w := f32(t, f, "param."+n)
		if len(w) != len(p.W) {
			t.Fatalf("%s: %d values, want %d", n, len(w), len(p.W))
		}
		copy(p.W, w)
	}
	d2t32, t2d32 := i32(t, f, "d2t"), i32(t, f, "t2d")
	d2t := make([]int64, len(d2t32))
	for i, v := range d2t32 {
		d2t[i] = int64(v)
	}
	t2d := make([]bool, len(t2d32))
	for i, v := range t2d32 {
		t2d[i] = v != 0
	}
	if err := m.SetVocab(d2t, t2d); err != nil {
		t.Fatal(err)
	}
	if err := m.SetVerifierWeights(f32(t, f, "ver_embed"), f32(t, f, "ver_lm_head"), f32(t, f, "ver_norm")); err != nil {
		t.Fatal(err)
	}
	var samples []Sample
	for i := range g.Lens {
		ids := i32(t, f, fmt.Sprintf("sample%d.ids", i))
		mask := i32(t, f, fmt.Sprintf("sample%d.mask", i))
		mf := make([]float32, len(mask))
		for j, v := range mask {
			mf[j] = float32(v)
		}
		samples = append(samples, Sample{IDs: ids, LossMask: mf, Aux: f32(t, f, fmt.Sprintf("sample%d.aux", i)),
			VerifierLast: f32(t, f, fmt.Sprintf("sample%d.last", i))})
	}
	b := NewBatch(g.T, g.A*g.H, g.H)
	if err := Pack(b, samples, g.A*g.H, g.H); err != nil {
		t.Fatal(err)
	}
	var raw [][]any
	if err := f.MetaInto("loss", &raw); err != nil {
		t.Fatal(err)
	}
	var terms []LossTerm
	for _, r := range raw {
		k, err := tensor.ParseLossKind(r[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		terms = append(terms, LossTerm{Kind: k, Weight: float32(r[1].(float64))})
	}
	return m, b, terms
}

func relClose(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= abs+rel*math.Abs(want)
}

func TestGoldenParity(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			f, g := loadGolden(t, name)
			m, b, terms := goldenSetup(t, f, g)
			// The batch Pack built must be the reference's packing.
			for _, c := range []struct {
				name string
				got  []int32
			}{{"ids", b.IDs}, {"doc", b.Doc}, {"pos", b.Pos}} {
				want := i32(t, f, "batch."+c.name)
				for i := range want {
					if c.got[i] != want[i] {
						t.Fatalf("batch %s[%d] = %d, want %d", c.name, i, c.got[i], want[i])
					}
				}
			}
			ws := m.NewWorkspace(g.T, g.K)
			met, err := m.Forward(ws, b, StepOptions{TTTSteps: g.K, StepDecay: g.Gamma, Loss: terms, Grad: true})
			if err != nil {
				t.Fatal(err)
			}
			m.ZeroGrad()
			m.Backward(ws)
			check := func(what string, got, want float64) {
				t.Helper()
				if !relClose(got, want, 1e-4, 1e-6) {
					t.Errorf("%s = %.8g, want %.8g", what, got, want)
				}
			}
			check("loss", met.Loss(), float64(f32(t, f, "loss")[0]))
			vals := met.Values()
			for k := 0; k < g.K; k++ {
				for _, key := range []string{"loss_%d", "full_acc_%d", "cond_acc_%d"} {
					key = fmt.Sprintf(key, k)
					check(key, vals[key], float64(f32(t, f, "metric."+key)[0]))
				}
				if len(terms) > 1 {
					for _, tm := range terms {
						key := fmt.Sprintf("%s_loss_%d", tm.Kind, k)
						check(key, vals[key], float64(f32(t, f, "metric."+key)[0]))
					}
				}
			}
			for _, p := range m.Params() {
				want := f32(t, f, "grad."+p.Name)
				var scale float64
				for _, w := range want {
					scale = max(scale, math.Abs(float64(w)))
				}
				bad := 0
				for i, w := range want {
					// 1e-4 relative per element, with a floor of 1e-4 of the
					// tensor's largest gradient for elements near zero.
					if !relClose(float64(p.G[i]), float64(w), 1e-4, 1e-4*scale) {
						if bad < 3 {
							t.Errorf("grad %s[%d] = %.8g, want %.8g", p.Name, i, p.G[i], w)
						}
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("grad %s: %d of %d elements off", p.Name, bad, len(want))
				}
			}
		})
	}
}
