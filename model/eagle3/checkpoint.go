package eagle3

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

// Save writes the draft as the Python trainer does (training-spec §5.7,
// format-spec §1, §4.1): config.json with dtype "bfloat16" and
// model.safetensors holding every float tensor in bf16 (embed_tokens, fc,
// norms, layers, lm_head; never the verifier norm or verifier lm_head),
// d2t as I64 and t2d as BOOL when the vocabulary is reduced. Both files are
// written atomically; dir is created if needed. Like save_pretrained it sets
// the config's architectures to ["Eagle3DraftModel"] and its dtype to bfloat16.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eagle3: %w", err)
	}
	ts, err := m.Tensors(safetensors.BF16)
	if err != nil {
		return err
	}
	if err := safetensors.WriteDir(dir, ts, map[string]string{"format": "pt"}, 0); err != nil {
		return fmt.Errorf("eagle3: %w", err)
	}
	// As save_pretrained: the config's architectures becomes the model class
	// and its dtype the saved float dtype (the model's config is updated).
	cfg := m.Cfg
	cfg.Architectures = []string{config.ModelClass["eagle3"]}
	if cfg.TorchDType != "" && cfg.DType == "" {
		cfg.TorchDType = "bfloat16"
	} else {
		cfg.DType = "bfloat16"
		cfg.Keep("dtype")
	}
	if err := config.Save(filepath.Join(dir, "config.json"), cfg); err != nil {
		return fmt.Errorf("eagle3: %w", err)
	}
	return nil
}

// Tensors returns the state dict to save, float tensors encoded as dt.
func (m *Model) Tensors(dt safetensors.DType) ([]safetensors.Tensor, error) {
	var ts []safetensors.Tensor
	addF := func(name string, w []float32, shape ...int64) error {
		b, err := safetensors.EncodeFloat32(dt, w)
		if err != nil {
			return fmt.Errorf("eagle3: %s: %w", name, err)
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: dt, Shape: shape, Data: b})
		return nil
	}
	for _, p := range m.params {
		shape := []int64{int64(len(p.W))}
		if p.Rows > 0 {
			shape = []int64{int64(p.Rows), int64(len(p.W) / p.Rows)}
		}
		if err := addF(p.Name, p.W, shape...); err != nil {
			return nil, err
		}
	}
	if err := addF("lm_head.weight", m.LMHead, int64(m.Vd), int64(m.H)); err != nil {
		return nil, err
	}
	if m.D2T != nil {
		d := make([]byte, 8*len(m.D2T))
		for i, v := range m.D2T {
			binary.LittleEndian.PutUint64(d[8*i:], uint64(v))
		}
		t := make([]byte, len(m.T2D))
		for i, v := range m.T2D {
			if v {
				t[i] = 1
			}
		}
		ts = append(ts,
			safetensors.Tensor{Name: "d2t", DType: safetensors.I64, Shape: []int64{int64(len(m.D2T))}, Data: d},
			safetensors.Tensor{Name: "t2d", DType: safetensors.BOOL, Shape: []int64{int64(len(m.T2D))}, Data: t})
	} else if m.Vd != m.V {
		return nil, fmt.Errorf("eagle3: the vocabulary mapping (d2t/t2d) is not set")
	}
	return ts, nil
}

// Load reads a speculators eagle3 checkpoint (config.json plus
// model.safetensors or shards). Missing embed_tokens (converter output),
// lm_head and input_norm keep their fresh values, as Python's
// _keys_to_ignore_on_load_missing allows; every other tensor must be present
// with its exact shape. The verifier norm and lm_head still come from
// SetVerifierWeights (lm_head, when loaded, is kept).
func Load(dir string) (*Model, error) {
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("eagle3: %w", err)
	}
	m, err := New(cfg, Options{})
	if err != nil {
		return nil, fmt.Errorf("eagle3: %s: %w", dir, err)
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("eagle3: %w", err)
	}
	defer ck.Close()
	read := func(name string, dst []float32, shape ...int64) (bool, error) {
		info, ok := ck.Info(name)
		if !ok {
			return false, nil
		}
		if !slices.Equal(info.Shape, shape) {
			return false, fmt.Errorf("eagle3: %s: tensor %s has shape %v, want %v", dir, name, info.Shape, shape)
		}
		x, err := ck.Float32(name)
		if err != nil {
			return false, fmt.Errorf("eagle3: %s: %w", dir, err)
		}
		copy(dst, x)
		return true, nil
	}
	optional := map[string]bool{"embed_tokens.weight": true, "input_norm.weight": true}
	for _, p := range m.params {
		shape := []int64{int64(len(p.W))}
		if p.Rows > 0 {
			shape = []int64{int64(p.Rows), int64(len(p.W) / p.Rows)}
		}
		ok, err := read(p.Name, p.W, shape...)
		if err != nil {
			return nil, err
		}
		if !ok && !optional[p.Name] {
			return nil, fmt.Errorf("eagle3: %s: tensor %s missing", dir, p.Name)
		}
	}
	if _, err := read("lm_head.weight", m.LMHead, int64(m.Vd), int64(m.H)); err != nil {
		return nil, err
	}
	if m.Vd != m.V {
		d2t, err := readInts(ck, "d2t", m.Vd)
		if err != nil {
			return nil, fmt.Errorf("eagle3: %s: %w", dir, err)
		}
		t2i, err := readInts(ck, "t2d", m.V)
		if err != nil {
			return nil, fmt.Errorf("eagle3: %s: %w", dir, err)
		}
		t2d := make([]bool, len(t2i))
		for i, v := range t2i {
			t2d[i] = v != 0
		}
		if err := m.SetVocab(d2t, t2d); err != nil {
			return nil, fmt.Errorf("eagle3: %s: %w", dir, err)
		}
	}
	return m, nil
}

func readInts(ck *safetensors.Checkpoint, name string, n int) ([]int64, error) {
	info, ok := ck.Info(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s missing (the draft vocabulary is reduced)", name)
	}
	if !slices.Equal(info.Shape, []int64{int64(n)}) {
		return nil, fmt.Errorf("tensor %s has shape %v, want [%d]", name, info.Shape, n)
	}
	return ck.Int64(name)
}

// LoadVerifierWeights reads the verifier's embedding, LM head and final norm
// from its checkpoint directory (name matching as speculators'
// load_model_layers: exact, then suffix, then known aliases) and calls
// SetVerifierWeights. A verifier without lm_head (tied) uses its embedding.
func (m *Model) LoadVerifierWeights(dir string) error {
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("eagle3: verifier: %w", err)
	}
	defer ck.Close()
	names := ck.Names()
	get := func(key string, aliases ...string) ([]float32, error) {
		name := resolveKey(names, append([]string{key}, aliases...))
		if name == "" {
			return nil, nil
		}
		return ck.Float32(name)
	}
	embed, err := get("embed_tokens.weight", "tok_embeddings.weight", "llm.embed.weight")
	if err != nil {
		return fmt.Errorf("eagle3: verifier %s: %w", dir, err)
	}
	if embed == nil {
		return fmt.Errorf("eagle3: verifier %s: no embed_tokens.weight", dir)
	}
	lm, err := get("lm_head.weight", "output.weight", "llm.unembed.weight")
	if err != nil {
		return fmt.Errorf("eagle3: verifier %s: %w", dir, err)
	}
	norm, err := get("model.norm.weight", "norm.weight")
	if err != nil {
		return fmt.Errorf("eagle3: verifier %s: %w", dir, err)
	}
	if err := m.SetVerifierWeights(embed, lm, norm); err != nil {
		return fmt.Errorf("eagle3: verifier %s: %w", dir, err)
	}
	return nil
}

// resolveKey returns the first of candidates present exactly, else the
// first name ending in it.
func resolveKey(names []string, candidates []string) string {
	for _, c := range candidates {
		for _, n := range names {
			if n == c {
				return n
			}
		}
		for _, n := range names {
			if strings.HasSuffix(n, c) {
				return n
			}
		}
	}
	return ""
}
