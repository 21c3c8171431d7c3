package llama

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/safetensors"
)

var goldenModels = flag.String("golden-models", "", "write the golden-case checkpoints into this directory (input of testdata/gen_golden.py)")

// goldenCases are the checkpoints whose logits and hidden states
// testdata/gen_golden.py computes with a plain-PyTorch transcription of the
// transformers modeling code.
func goldenCases() map[string]testmodel.Options {
	cs := map[string]testmodel.Options{}
	cs["llama"] = testmodel.Tiny("llama")

	o := testmodel.Tiny("llama")
	o.Tied, o.AttentionBias, o.MLPBias, o.Seed = true, true, true, 2
	cs["llama_tied_bias"] = o

	o = testmodel.Tiny("llama")
	o.Hidden, o.Heads, o.KVHeads, o.RopeTheta, o.Seed = 64, 4, 1, 500000, 3
	o.RopeScaling = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
		"high_freq_factor": 4.0, "original_max_position_embeddings": 64}
	cs["llama3_rope"] = o

	o = testmodel.Tiny("llama")
	o.RopeScaling = map[string]any{"type": "linear", "factor": 2.0}
	o.DType, o.ShardSize, o.Seed = safetensors.BF16, 60000, 4
	cs["llama_linear_bf16_sharded"] = o

	o = testmodel.Tiny("mistral")
	o.SlidingWindow, o.Seed = 5, 5
	cs["mistral_window"] = o

	o = testmodel.Tiny("qwen2")
	o.UseSlidingWindow, o.SlidingWindow, o.MaxWindowLayers, o.Seed = true, 4, 2, 6
	cs["qwen2_bias_window"] = o

	o = testmodel.Tiny("qwen3")
	o.Seed = 7
	cs["qwen3_qknorm_tied"] = o

	o = testmodel.Tiny("qwen3")
	o.Tied, o.Seed, o.MaxPosition = false, 8, 128
	o.RopeScaling = map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}
	o.DType = safetensors.F16
	cs["qwen3_yarn_f16"] = o
	return cs
}

func weightsSHA(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestGolden compares logits and every layer's hidden state (ids 0..N)
// with PyTorch, within 1e-4 relative to the largest reference value.
func TestGolden(t *testing.T) {
	cases := goldenCases()
	if *goldenModels != "" {
		for name, o := range cases {
			if err := testmodel.Write(filepath.Join(*goldenModels, name), o); err != nil {
				t.Fatal(err)
			}
		}
		t.Skipf("wrote golden checkpoints to %s; now run testdata/gen_golden.py", *goldenModels)
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			gf, err := safetensors.Open(filepath.Join("testdata", "golden", name+".safetensors"))
			if err != nil {
				t.Fatalf("%v (regenerate: see testdata/gen_golden.py)", err)
			}
			defer gf.Close()
			dir := filepath.Join(t.TempDir(), name)
			if err := testmodel.Write(dir, cases[name]); err != nil {
				t.Fatal(err)
			}
			if got, want := weightsSHA(t, dir), gf.Metadata()["weights_sha256"]; got != want {
				t.Fatalf("checkpoint generator output changed (sha %s, golden made from %s): regenerate with testdata/gen_golden.py", got, want)
			}
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if bf := cases[name].DType == safetensors.BF16; bf != (m.Layers[0].Wq.BF16 != nil) || m.Layers[0].Wd.Len() != m.Config.HiddenSize*m.Config.IntermediateSize {
				t.Fatalf("bf16 checkpoint %v but weights kept as bf16 %v", bf, m.Layers[0].Wq.BF16 != nil)
			}
			ids64, _ := gf.Int64("input_ids")
			layers64, _ := gf.Int64("layer_ids")
			wantL, _ := gf.Float32("logits")
			wantH, _ := gf.Float32("hidden_states")
			ids := make([]int32, len(ids64))
			for i, v := range ids64 {
				ids[i] = int32(v)
			}
			layers := make([]int, len(layers64))
			for i, v := range layers64 {
				layers[i] = int(v)
			}
			s := m.NewState(1)
			out, err := s.ForwardSeq(0, ids, ForwardOptions{Logits: LogitsAll, Capture: layers})
			if err != nil {
				t.Fatal(err)
			}
			worst := closeRel(t, "logits", out.Logits, wantL, 1e-4)
			H, A := m.H(), len(layers)
			for a, id := range layers {
				got := make([]float32, 0, len(ids)*H)
				want := make([]float32, 0, len(ids)*H)
				for r := range ids {
					got = append(got, out.Hidden[(r*A+a)*H:(r*A+a+1)*H]...)
					want = append(want, wantH[(r*A+a)*H:(r*A+a+1)*H]...)
				}
				worst = max(worst, closeRel(t, "hidden_states layer "+itoa(id), got, want, 1e-4))
			}
			t.Logf("worst relative difference to PyTorch: %.2g", worst)
			// The same through decode steps: prefill 5, then one token at a time.
			s2 := m.NewState(1)
			V := m.V()
			if _, err := s2.ForwardSeq(0, ids[:5], ForwardOptions{}); err != nil {
				t.Fatal(err)
			}
			for i := 5; i < len(ids); i++ {
				o2, err := s2.ForwardSeq(0, ids[i:i+1], ForwardOptions{Logits: LogitsLast})
				if err != nil {
					t.Fatal(err)
				}
				closeRel(t, "decode logits "+itoa(i), o2.LastLogits(0), wantL[i*V:(i+1)*V], 1e-4)
			}
		})
	}
}

func itoa(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}
