package llama

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/safetensors"
)

func tinyConfig(t testing.TB, arch string, edit func(map[string]any)) []byte {
	t.Helper()
	c := testmodel.Tiny(arch).Config()
	if edit != nil {
		edit(c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigResolve(t *testing.T) {
	c, err := ParseConfig(tinyConfig(t, "qwen3", nil), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.HeadDim != 32 || c.KVHeads != 2 || !c.QKNorm || !c.Tied || c.QKVBias {
		t.Errorf("qwen3 resolved wrong: %+v", c)
	}
	c, err = ParseConfig(tinyConfig(t, "qwen2", func(m map[string]any) {
		m["use_sliding_window"], m["sliding_window"], m["max_window_layers"] = true, 7, 3
	}), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 0, 7}; !slices.Equal(c.Windows, want) || !c.QKVBias || c.OBias {
		t.Errorf("qwen2 windows %v want %v, bias %v/%v", c.Windows, want, c.QKVBias, c.OBias)
	}
	// Mistral: absent sliding_window means transformers' default 4096, null means none.
	c, _ = ParseConfig(tinyConfig(t, "mistral", func(m map[string]any) { delete(m, "sliding_window") }), "x")
	if c.Windows[0] != 4096 {
		t.Errorf("mistral default window %d", c.Windows[0])
	}
	c, _ = ParseConfig(tinyConfig(t, "mistral", nil), "x")
	if c.Windows[0] != 0 {
		t.Errorf("mistral null window %d", c.Windows[0])
	}
	// layer_types wins over max_window_layers.
	c, _ = ParseConfig(tinyConfig(t, "qwen3", func(m map[string]any) {
		m["use_sliding_window"], m["sliding_window"] = true, 9
		m["layer_types"] = []string{"sliding_attention", "full_attention", "sliding_attention", "full_attention"}
	}), "x")
	if want := []int{9, 0, 9, 0}; !slices.Equal(c.Windows, want) {
		t.Errorf("layer_types windows %v", c.Windows)
	}
	c, _ = ParseConfig(tinyConfig(t, "llama", func(m map[string]any) { m["eos_token_id"] = []int{5, 7} }), "x")
	if !slices.Equal(c.EOS, []int{5, 7}) {
		t.Errorf("eos %v", c.EOS)
	}
	// transformers ≥ 5 spells RoPE as rope_parameters, theta included.
	c, err = ParseConfig(tinyConfig(t, "llama", func(m map[string]any) {
		delete(m, "rope_theta")
		delete(m, "rope_scaling")
		m["rope_parameters"] = map[string]any{"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
			"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
	}), "x")
	if err != nil || c.Rope.Theta != 500000 || c.Rope.Scaling == nil || c.Rope.Scaling.RopeType != "llama3" {
		t.Errorf("rope_parameters: %v %+v", err, c)
	}
	if got := DefaultAuxLayers(32); !slices.Equal(got, []int{2, 16, 29}) {
		t.Errorf("aux ids %v", got)
	}
	if got := DefaultAuxLayers(28); !slices.Equal(got, []int{2, 14, 25}) {
		t.Errorf("aux ids %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"moe type", func(m map[string]any) { m["model_type"] = "qwen3_moe" }, "mixture-of-experts"},
		{"experts", func(m map[string]any) { m["num_experts"] = 8 }, "mixture-of-experts"},
		{"unknown type", func(m map[string]any) { m["model_type"] = "gpt2" }, `unsupported model_type "gpt2"`},
		{"no type", func(m map[string]any) { delete(m, "model_type") }, "model_type is missing"},
		{"arch", func(m map[string]any) { m["architectures"] = []string{"GPT2LMHeadModel"} }, "unsupported architecture"},
		{"arch mismatch", func(m map[string]any) { m["architectures"] = []string{"Qwen2ForCausalLM"} }, "does not match"},
		{"gqa", func(m map[string]any) { m["num_key_value_heads"] = 3 }, "not a multiple"},
		{"heads", func(m map[string]any) { m["num_attention_heads"] = 0 }, "num_attention_heads"},
		{"hidden/heads", func(m map[string]any) { m["num_attention_heads"] = 3; m["num_key_value_heads"] = 1 }, "head_dim is not given"},
		{"act", func(m map[string]any) { m["hidden_act"] = "gelu" }, "hidden_act"},
		{"quant", func(m map[string]any) { m["quantization_config"] = map[string]any{"quant_method": "fp8"} }, "quantized"},
		{"rope type", func(m map[string]any) { m["rope_scaling"] = map[string]any{"rope_type": "dynamic", "factor": 2.0} }, "unsupported rope_type"},
		{"rope theta", func(m map[string]any) { m["rope_theta"] = -1.0 }, "rope_theta"},
		{"eps", func(m map[string]any) { m["rms_norm_eps"] = 0.0 }, "rms_norm_eps"},
		{"vocab", func(m map[string]any) { m["vocab_size"] = 1 << 30 }, "vocab_size"},
		{"layer types", func(m map[string]any) { m["layer_types"] = []string{"full_attention"} }, "layer_types"},
		{"eos", func(m map[string]any) { m["eos_token_id"] = "x" }, "eos_token_id"},
		{"bad json type", func(m map[string]any) { m["hidden_size"] = "big" }, "hidden_size"},
		{"text_config", func(m map[string]any) { m["text_config"] = map[string]any{} }, "multimodal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(tinyConfig(t, "llama", tc.edit), "dir/config.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "dir/config.json") {
				t.Errorf("error %v, want it to name the file and say %q", err, tc.want)
			}
		})
	}
}

// TestLoadErrors: broken weights are refused with the tensor named.
func TestLoadErrors(t *testing.T) {
	write := func(t *testing.T, edit func(name string, ts *safetensors.Tensor) bool) string {
		dir := t.TempDir()
		if err := testmodel.Write(dir, testmodel.Tiny("llama")); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		var ts []safetensors.Tensor
		for _, n := range f.Names() {
			info, _ := f.Info(n)
			b, _ := f.Bytes(n)
			tt := safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: append([]byte(nil), b...)}
			if edit(n, &tt) {
				ts = append(ts, tt)
			}
		}
		f.Close()
		if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		name string
		edit func(string, *safetensors.Tensor) bool
		want string
	}{
		{"missing", func(n string, _ *safetensors.Tensor) bool { return n != "model.layers.2.mlp.up_proj.weight" }, `missing tensors: model.layers.2.mlp.up_proj.weight`},
		{"shape", func(n string, tt *safetensors.Tensor) bool {
			if n == "model.layers.1.self_attn.k_proj.weight" {
				tt.Shape = []int64{64, 32}
			}
			return true
		}, "model.layers.1.self_attn.k_proj.weight has shape [64 32], config implies [32 64]"},
		{"dtype", func(n string, tt *safetensors.Tensor) bool {
			if n == "model.norm.weight" {
				tt.DType, tt.Shape = safetensors.I32, []int64{64}
			}
			return true
		}, "model.norm.weight has dtype I32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, tc.edit)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("empty dir: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), tinyConfig(t, "llama", nil), 0o644)
	if _, err := Load(dir); err == nil {
		t.Error("directory without weights accepted")
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, a := range []string{"llama", "mistral", "qwen2", "qwen3"} {
		f.Add(tinyConfig(f, a, nil))
	}
	f.Add(tinyConfig(f, "llama", func(m map[string]any) {
		m["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}
	}))
	f.Add(tinyConfig(f, "llama", func(m map[string]any) {
		m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
	}))
	f.Add([]byte(`{"model_type":"qwen2","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":4,"use_sliding_window":true,"layer_types":["sliding_attention"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz")
		if err != nil {
			return
		}
		if c.HeadDim <= 0 || c.KVHeads <= 0 || c.NumAttentionHeads%c.KVHeads != 0 || len(c.Windows) != c.NumHiddenLayers {
			t.Fatalf("accepted an inconsistent config: %+v", c)
		}
	})
}
