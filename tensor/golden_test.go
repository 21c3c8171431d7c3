package tensor

import (
	"fmt"
	"testing"

	"github.com/speculators-go/speculators/internal/golden"
)

// Golden values come from tensor/testdata/gen_kernels.py (PyTorch, float32).
// Regenerate with: /usr/bin/python3 tensor/testdata/gen_kernels.py

func openGolden(t *testing.T, name string) *golden.File {
	t.Helper()
	f, err := golden.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustF32(t *testing.T, f *golden.File, name string) []float32 {
	t.Helper()
	x, _, err := f.F32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustI32(t *testing.T, f *golden.File, name string) []int32 {
	t.Helper()
	x, _, err := f.I32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestGoldenLosses(t *testing.T) {
	f := openGolden(t, "losses")
	logits, targets, mask := mustF32(t, f, "logits"), mustF32(t, f, "targets"), mustF32(t, f, "mask")
	var names []string
	if err := f.MetaInto("names", &names); err != nil {
		t.Fatal(err)
	}
	weight, _ := f.MetaFloat("weight")
	eta, _ := f.MetaFloat("eta")
	T := len(mask)
	V := len(logits) / T
	for _, name := range names {
		kind, err := ParseLossKind(name)
		if err != nil {
			t.Fatal(err)
		}
		dz := make([]float32, T*V)
		ws := make([]float32, 2*T)
		got := MaskedLoss(kind, dz, logits, targets, mask, float32(weight), T, V, float32(eta), ws)
		checkClose(t, name+" per-position", ws[:T], mustF32(t, f, name+".per"), 2e-6, 1e-5)
		checkClose(t, name+" loss", []float32{got}, mustF32(t, f, name+".loss"), 1e-6, 1e-5)
		checkClose(t, name+" grad", dz, mustF32(t, f, name+".grad"), 1e-7, 1e-4)
	}
}

func TestGoldenAttention(t *testing.T) {
	f := openGolden(t, "attention")
	var variants []struct {
		Name                          string
		T, Steps, NH, KVH, HD, Window int
	}
	if err := f.MetaInto("variants", &variants); err != nil {
		t.Fatal(err)
	}
	for _, vr := range variants {
		t.Run(vr.Name, func(t *testing.T) {
			g := func(n string) []float32 { return mustF32(t, f, vr.Name+"."+n) }
			sh := AttnShape{T: vr.T, S: vr.T * vr.Steps, NH: vr.NH, KVH: vr.KVH, HD: vr.HD, Window: vr.Window, Doc: mustI32(t, f, vr.Name+".doc")}
			q, k, v, dout := g("q"), g("k"), g("v"), g("dout")
			out, lse := make([]float32, len(q)), make([]float32, vr.NH*vr.T)
			AttentionForward(out, lse, q, k, v, sh)
			checkClose(t, "out", out, g("out"), 1e-5, 1e-4)
			dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
			AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, sh)
			checkClose(t, "dq", dq, g("dq"), 2e-5, 2e-4)
			checkClose(t, "dk", dk, g("dk"), 2e-5, 2e-4)
			checkClose(t, "dv", dv, g("dv"), 2e-5, 2e-4)
		})
	}
}

func TestGoldenRoPE(t *testing.T) {
	f := openGolden(t, "rope")
	var cases []struct {
		Name                  string       `json:"name"`
		Theta                 float64      `json:"rope_theta"`
		HeadDim               int          `json:"head_dim"`
		PartialRotaryFactor   float64      `json:"partial_rotary_factor"`
		MaxPositionEmbeddings int          `json:"max_position_embeddings"`
		Scaling               *RoPEScaling `json:"rope_scaling"`
		AttentionFactor       float64      `json:"attention_factor"`
	}
	if err := f.MetaInto("cases", &cases); err != nil {
		t.Fatal(err)
	}
	pos := mustI32(t, f, "pos")
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			cfg := RoPEConfig{Theta: c.Theta, HeadDim: c.HeadDim, PartialRotaryFactor: c.PartialRotaryFactor,
				MaxPositionEmbeddings: c.MaxPositionEmbeddings, Scaling: c.Scaling}
			inv, af, err := RoPEInvFreq(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "inv_freq", inv, mustF32(t, f, c.Name+".inv_freq"), 0, 2e-7)
			if d := float64(af) - c.AttentionFactor; d > 1e-7 || d < -1e-7 {
				t.Errorf("attention factor %g, want %g", af, c.AttentionFactor)
			}
			rot := cfg.RotaryDim()
			cos, sin := make([]float32, len(pos)*rot/2), make([]float32, len(pos)*rot/2)
			RoPETables(cos, sin, pos, inv, af)
			// Large angles (pos·inv_freq up to 3e4 rad) amplify one ulp of the
			// float32 angle; torch computes cos/sin in float32 too.
			checkClose(t, "cos", cos, mustF32(t, f, c.Name+".cos"), 5e-6, 0)
			checkClose(t, "sin", sin, mustF32(t, f, c.Name+".sin"), 5e-6, 0)
			x := mustF32(t, f, c.Name+".x")
			RoPEForward(x, cos, sin, len(pos), 2, c.HeadDim, rot)
			checkClose(t, "out", x, mustF32(t, f, c.Name+".out"), 2e-5, 0)
		})
	}
}

func TestGoldenOptim(t *testing.T) {
	f := openGolden(t, "optim")
	steps, _ := f.MetaFloat("adamw_steps")
	o := NewAdamW(1e-2, 0.1)
	p1 := &Param{W: mustF32(t, f, "adamw.p1.init"), Decay: true}
	p2 := &Param{W: mustF32(t, f, "adamw.p2.init"), Decay: false}
	for s := 0; s < int(steps); s++ {
		p1.G = mustF32(t, f, fmt.Sprintf("adamw.g1.%d", s))
		p2.G = mustF32(t, f, fmt.Sprintf("adamw.g2.%d", s))
		o.Step([]*Param{p1, p2})
	}
	checkClose(t, "adamw p1", p1.W, mustF32(t, f, "adamw.p1.final"), 1e-7, 1e-6)
	checkClose(t, "adamw p2", p2.W, mustF32(t, f, "adamw.p2.final"), 1e-7, 1e-6)

	a, b := mustF32(t, f, "clip.a"), mustF32(t, f, "clip.b")
	maxNorm, _ := f.MetaFloat("clip_max_norm")
	total := ClipGradNorm([][]float32{a, b}, float32(maxNorm))
	checkClose(t, "clip total", []float32{total}, mustF32(t, f, "clip.total"), 0, 1e-6)
	checkClose(t, "clip a", a, mustF32(t, f, "clip.a.out"), 0, 1e-6)
	checkClose(t, "clip b", b, mustF32(t, f, "clip.b.out"), 0, 1e-6)

	for _, c := range []struct {
		name       string
		rows, cols int
	}{{"ns.wide", 8, 24}, {"ns.tall", 24, 8}} {
		g := mustF32(t, f, c.name+".g")
		out := make([]float32, len(g))
		k := min(c.rows, c.cols)
		NewtonSchulz(out, g, c.rows, c.cols, 5, 1e-7, make([]float32, 2*len(g)+2*k*k))
		checkClose(t, c.name, out, mustF32(t, f, c.name+".out"), 2e-5, 1e-4)
	}
}
