package eagle3

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/validate"
)

func TestSaveValidatesAndLoads(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			f, g := loadGolden(t, name)
			m, b, terms := goldenSetup(t, f, g)
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			r, err := validate.Dir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || len(r.Findings) > 0 {
				t.Fatalf("validate: %v", r.Findings)
			}
			// config.json is the model's config with dtype bfloat16, in Python's bytes.
			got, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if m.Cfg.DType != "bfloat16" || m.Cfg.Architectures[0] != "Eagle3DraftModel" {
				t.Errorf("config after Save: dtype %q, architectures %v", m.Cfg.DType, m.Cfg.Architectures)
			}
			// The fresh config testckpt builds (shaped like the published file,
			// dtype bfloat16) is what a save must write back, byte for byte.
			want, err := goldenConfig(t, g).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("config.json:\n%s\nwant\n%s", got, want)
			}
			ck, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			for _, n := range []string{"verifier_lm_head.weight", "verifier_norm.weight"} {
				if _, ok := ck.Info(n); ok {
					t.Errorf("%s saved", n)
				}
			}
			for n, dt := range map[string]safetensors.DType{"d2t": safetensors.I64, "t2d": safetensors.BOOL, "fc.weight": safetensors.BF16, "lm_head.weight": safetensors.BF16, "embed_tokens.weight": safetensors.BF16} {
				if info, ok := ck.Info(n); !ok || info.DType != dt {
					t.Errorf("%s: %v %v, want %s", n, ok, info.DType, dt)
				}
			}
			m2, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range m.AllParams() {
				q := m2.AllParams()[i]
				for j := range p.W {
					if want := safetensors.BF16ToFloat32(safetensors.Float32ToBF16(p.W[j])); q.W[j] != want {
						t.Fatalf("%s[%d] = %g after load, want %g", p.Name, j, q.W[j], want)
					}
				}
			}
			if err := m2.SetVerifierWeights(f32(t, f, "ver_embed"), f32(t, f, "ver_lm_head"), f32(t, f, "ver_norm")); err != nil {
				t.Fatal(err)
			}
			met, err := m2.Forward(m2.NewWorkspace(g.T, g.K), b, StepOptions{Loss: terms, StepDecay: g.Gamma})
			if err != nil {
				t.Fatal(err)
			}
			ref := float64(f32(t, f, "loss")[0])
			if !relClose(met.Loss(), ref, 0.05, 0) {
				t.Errorf("loss after a bf16 round trip %g, want about %g", met.Loss(), ref)
			}
		})
	}
}

func TestLoadRejectsBadCheckpoints(t *testing.T) {
	f, g := loadGolden(t, "llama_default")
	m, _, _ := goldenSetup(t, f, g)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	ts, err := m.Tensors(safetensors.BF16)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func([]safetensors.Tensor) []safetensors.Tensor{
		"missing fc": func(ts []safetensors.Tensor) []safetensors.Tensor {
			var out []safetensors.Tensor
			for _, x := range ts {
				if x.Name != "fc.weight" {
					out = append(out, x)
				}
			}
			return out
		},
		"wrong shape": func(ts []safetensors.Tensor) []safetensors.Tensor {
			out := append([]safetensors.Tensor(nil), ts...)
			for i, x := range out {
				if x.Name == "norm.weight" {
					out[i].Shape = []int64{int64(g.H / 2)}
					out[i].Data = x.Data[:len(x.Data)/2]
				}
			}
			return out
		},
		"missing t2d": func(ts []safetensors.Tensor) []safetensors.Tensor {
			var out []safetensors.Tensor
			for _, x := range ts {
				if x.Name != "t2d" {
					out = append(out, x)
				}
			}
			return out
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			cfgBytes, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			if err := os.WriteFile(filepath.Join(d, "config.json"), cfgBytes, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := safetensors.WriteDir(d, edit(ts), map[string]string{"format": "pt"}, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(d); err == nil {
				t.Fatal("no error")
			}
		})
	}
	// A non-eagle3 config is refused.
	c, _ := config.New("dflash")
	if _, err := New(c, Options{}); err == nil {
		t.Error("dflash config accepted")
	}
}
