package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/internal/testckpt"
)

func TestInspectTiny(t *testing.T) {
	dir := write(t, testckpt.Tiny())
	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Counts worked out by hand from Tiny: H=32, Hq=64, Hkv=32, I=96,
	// V=512, Vd=96, A=4, norm_before_fc.
	wantParams := map[string]int64{
		"embed_tokens": 512 * 32,
		"lm_head":      96 * 32,
		"fc":           32*128 + 128,
		"layers.0":     3*32 + 64*64 + 2*32*64 + 32*64 + 3*96*32,
		"norm":         32,
	}
	var total int64
	for g, n := range wantParams {
		total += n
		if s.Parameters[g] != n {
			t.Errorf("Parameters[%s] = %d, want %d", g, s.Parameters[g], n)
		}
	}
	if len(s.Parameters) != len(wantParams) || s.TotalParameters != total || total != 43264 {
		t.Errorf("Parameters = %v, total %d, want %d", s.Parameters, s.TotalParameters, total)
	}
	if s.Buffers != 96+512 {
		t.Errorf("Buffers = %d", s.Buffers)
	}
	if s.Algorithm != "eagle3" || s.Draft.Layers != 1 || s.Draft.Hidden != 32 || s.Draft.LayerType != "llama" ||
		s.Vocab != 512 || s.DraftVocab != 96 || len(s.AuxLayerIDs) != 4 || s.SpeculativeTokens != 3 || *s.Verifier != "test/verifier" {
		t.Errorf("summary: %+v %+v", s, s.Draft)
	}
	if u := s.DTypes["BF16"]; u.Tensors != 15 || u.Bytes != 2*total {
		t.Errorf("BF16 usage %+v", u)
	}
	if u := s.DTypes["I64"]; u.Tensors != 1 || u.Bytes != 8*96 {
		t.Errorf("I64 usage %+v", u)
	}
	var sum int64
	for _, f := range s.Files {
		sum += f.Bytes
	}
	if len(s.Files) != 2 || sum != s.BytesOnDisk || s.BytesOnDisk < 2*total {
		t.Errorf("files %v, bytes %d", s.Files, s.BytesOnDisk)
	}
	text := s.Text()
	for _, w := range []string{"eagle3", "43,264", "[2 46 91 93]", "512 verifier, 96 draft", "1 × llama", "method eagle3, 3 speculative tokens, Eagle3LlamaForCausalLM"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
}

func TestGroup(t *testing.T) {
	for name, want := range map[string]string{
		"d2t": "vocab_map", "layers.12.mlp.up_proj.weight": "layers.12", "mtp_layers.0.input_proj.weight": "mtp_layers.0",
		"fc_norm.2.weight": "fc", "hidden_norm.weight": "fc", "norm.weight": "norm", "weird": "other", "layers.x": "layers",
	} {
		if got := Group(name); got != want {
			t.Errorf("Group(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestInspectEveryAlgorithm(t *testing.T) {
	for _, algo := range []string{"peagle", "dflash", "dspark", "mtp"} {
		s, err := Inspect(write(t, testckpt.ForAlgorithm(algo)))
		if err != nil {
			t.Fatal(err)
		}
		if s.Algorithm != algo || s.TotalParameters == 0 || s.ConfigError != "" {
			t.Errorf("%s: %+v", algo, s)
		}
		text := s.Text()
		switch algo {
		case "mtp":
			if s.VLLM != nil || !strings.Contains(text, "not servable") || s.Parameters["mtp_layers.0"] != s.TotalParameters {
				t.Errorf("mtp summary:\n%s", text)
			}
		case "peagle":
			if s.VLLM == nil || !s.VLLM.ParallelDrafting || !strings.Contains(text, "parallel drafting") {
				t.Errorf("peagle summary:\n%s", text)
			}
		default:
			if s.VLLM == nil || s.VLLM.Method != algo || len(s.VLLM.TargetLayerIDs) != 3 {
				t.Errorf("%s summary:\n%s", algo, text)
			}
		}
	}
	// An unreadable config is reported, the weights still summarized.
	dir := write(t, testckpt.Tiny())
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(dir)
	if err != nil || s.ConfigError == "" || s.TotalParameters != 43264 || !strings.Contains(s.Text(), "UNREADABLE") {
		t.Errorf("bad config: %v %+v", err, s)
	}
}
