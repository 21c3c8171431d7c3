package llama

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/speculators-go/speculators/tensor"
)

// Size bounds for hostile configs: far above any released dense model
// (Llama 3.1 405B: hidden 16384, 126 layers, vocab 128256), low enough that
// products of them cannot overflow.
const (
	maxConfigBytes   = 16 << 20
	maxHidden        = 1 << 17
	maxLayers        = 4096
	maxHeads         = 4096
	maxHeadDim       = 4096
	maxIntermediate  = 1 << 20
	maxVocab         = 1 << 23
	maxPositionLimit = 1 << 30
)

// Config mirrors the config.json fields of the supported Hugging Face
// architectures. Optional keys are pointers; Resolve fills the defaults of
// each architecture's transformers config class.
type Config struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDimRaw            *int            `json:"head_dim"`
	VocabSize             int             `json:"vocab_size"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"`
	HiddenAct             string          `json:"hidden_act"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
	SlidingWindow         json.RawMessage `json:"sliding_window"` // absent, null or an integer
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	MaxWindowLayers       *int            `json:"max_window_layers"`
	LayerTypes            []string        `json:"layer_types"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	TorchDType            string          `json:"torch_dtype"`
	DType                 string          `json:"dtype"`

	// Keys whose presence means a model this runtime does not run.
	NumExperts         *int            `json:"num_experts"`
	NumLocalExperts    *int            `json:"num_local_experts"`
	QuantizationConfig json.RawMessage `json:"quantization_config"`
	TextConfig         json.RawMessage `json:"text_config"`

	// Resolved by Resolve.
	Arch       string            `json:"-"` // llama, mistral, qwen2, qwen3
	KVHeads    int               `json:"-"`
	HeadDim    int               `json:"-"`
	Eps        float32           `json:"-"`
	Rope       tensor.RoPEConfig `json:"-"`
	Tied       bool              `json:"-"`
	QKVBias    bool              `json:"-"` // q/k/v projections have a bias
	OBias      bool              `json:"-"` // o_proj has a bias
	MLPHasBias bool              `json:"-"`
	QKNorm     bool              `json:"-"` // Qwen3 per-head q_norm/k_norm
	Windows    []int             `json:"-"` // sliding window per layer, 0 = full attention
	EOS        []int             `json:"-"`
}

// architectures maps each supported class to its model_type.
var architectures = map[string]string{
	"LlamaForCausalLM":   "llama",
	"MistralForCausalLM": "mistral",
	"Qwen2ForCausalLM":   "qwen2",
	"Qwen3ForCausalLM":   "qwen3",
}

// LoadConfig reads and resolves config.json.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("llama: %s: larger than %d bytes", path, maxConfigBytes)
	}
	return ParseConfig(data, path)
}

// ParseConfig parses and resolves the bytes of a config.json; name labels errors.
func ParseConfig(data []byte, name string) (*Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("llama: %s: %w", name, err)
	}
	if err := c.Resolve(); err != nil {
		return nil, fmt.Errorf("llama: %s: %w", name, err)
	}
	return &c, nil
}

// Resolve checks the config and fills the derived fields, applying the
// defaults of transformers' LlamaConfig, MistralConfig, Qwen2Config and
// Qwen3Config for absent keys.
func (c *Config) Resolve() error {
	if len(c.TextConfig) > 0 && string(c.TextConfig) != "null" {
		return errors.New("multimodal configs (text_config) are not supported; point --model at a text-only Llama, Mistral, Qwen2 or Qwen3 checkpoint")
	}
	switch c.ModelType {
	case "llama", "mistral", "qwen2", "qwen3":
	case "":
		return errors.New("model_type is missing")
	case "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "llama4", "gpt_oss", "olmoe":
		return fmt.Errorf("model_type %q is a mixture-of-experts model; only dense llama, mistral, qwen2 and qwen3 models are supported", c.ModelType)
	default:
		return fmt.Errorf("unsupported model_type %q (supported: llama, mistral, qwen2, qwen3)", c.ModelType)
	}
	c.Arch = c.ModelType
	if len(c.Architectures) > 0 {
		a := c.Architectures[0]
		mt, ok := architectures[a]
		if !ok {
			return fmt.Errorf("unsupported architecture %q (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)", a)
		}
		if mt != c.ModelType {
			return fmt.Errorf("architecture %s does not match model_type %q", a, c.ModelType)
		}
	}
	if (c.NumExperts != nil && *c.NumExperts > 0) || (c.NumLocalExperts != nil && *c.NumLocalExperts > 0) {
		return errors.New("mixture-of-experts models (num_experts) are not supported")
	}
	if len(c.QuantizationConfig) > 0 && string(c.QuantizationConfig) != "null" {
		return errors.New("quantized checkpoints (quantization_config) are not supported; use a bf16/f16/f32 checkpoint")
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return fmt.Errorf("hidden_act %q is not supported (want silu)", c.HiddenAct)
	}
	pos := func(key string, v, limit int) error {
		if v <= 0 || v > limit {
			return fmt.Errorf("%s must be in [1, %d], got %d", key, limit, v)
		}
		return nil
	}
	for _, chk := range []struct {
		key      string
		v, limit int
	}{
		{"hidden_size", c.HiddenSize, maxHidden},
		{"intermediate_size", c.IntermediateSize, maxIntermediate},
		{"num_hidden_layers", c.NumHiddenLayers, maxLayers},
		{"num_attention_heads", c.NumAttentionHeads, maxHeads},
		{"vocab_size", c.VocabSize, maxVocab},
	} {
		if err := pos(chk.key, chk.v, chk.limit); err != nil {
			return err
		}
	}
	c.KVHeads = c.NumAttentionHeads
	if c.NumKeyValueHeads != nil {
		c.KVHeads = *c.NumKeyValueHeads
	}
	if err := pos("num_key_value_heads", c.KVHeads, maxHeads); err != nil {
		return err
	}
	if c.NumAttentionHeads%c.KVHeads != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.KVHeads)
	}
	if c.HeadDimRaw != nil {
		c.HeadDim = *c.HeadDimRaw
	} else {
		if c.HiddenSize%c.NumAttentionHeads != 0 {
			return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d and head_dim is not given", c.HiddenSize, c.NumAttentionHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if err := pos("head_dim", c.HeadDim, maxHeadDim); err != nil {
		return err
	}
	if int64(c.NumAttentionHeads)*int64(c.HeadDim) > maxHidden*4 {
		return fmt.Errorf("num_attention_heads·head_dim = %d is too large", c.NumAttentionHeads*c.HeadDim)
	}
	if c.MaxPositionEmbeddings < 0 || c.MaxPositionEmbeddings > maxPositionLimit {
		return fmt.Errorf("max_position_embeddings %d out of range", c.MaxPositionEmbeddings)
	}
	c.Eps = 1e-6
	if c.RMSNormEps != nil {
		if !(*c.RMSNormEps > 0 && *c.RMSNormEps < 1) {
			return fmt.Errorf("rms_norm_eps must be in (0, 1), got %g", *c.RMSNormEps)
		}
		c.Eps = float32(*c.RMSNormEps)
	}
	c.Tied = c.TieWordEmbeddings != nil && *c.TieWordEmbeddings
	switch c.Arch {
	case "llama":
		c.QKVBias = c.AttentionBias != nil && *c.AttentionBias
		c.OBias = c.QKVBias
		c.MLPHasBias = c.MLPBias != nil && *c.MLPBias
	case "qwen2":
		c.QKVBias = true
	case "qwen3":
		c.QKVBias = c.AttentionBias != nil && *c.AttentionBias
		c.OBias = c.QKVBias
		c.QKNorm = true
	}
	if err := c.resolveRope(); err != nil {
		return err
	}
	if err := c.resolveWindows(); err != nil {
		return err
	}
	eos, err := tokenIDs(c.EOSTokenID, "eos_token_id")
	if err != nil {
		return err
	}
	c.EOS = eos
	return nil
}

func (c *Config) resolveRope() error {
	theta := 10000.0
	if c.RopeTheta != nil {
		theta = *c.RopeTheta
	}
	var sc *tensor.RoPEScaling
	raw := c.RopeScaling
	if len(c.RopeParameters) > 0 && string(c.RopeParameters) != "null" {
		// transformers ≥ 5 keeps rope_theta inside rope_parameters.
		var p struct {
			RopeTheta *float64 `json:"rope_theta"`
		}
		if err := json.Unmarshal(c.RopeParameters, &p); err != nil {
			return fmt.Errorf("rope_parameters: %w", err)
		}
		if p.RopeTheta != nil {
			theta = *p.RopeTheta
		}
		raw = c.RopeParameters
	}
	if len(raw) > 0 && string(raw) != "null" {
		sc = new(tensor.RoPEScaling)
		if err := json.Unmarshal(raw, sc); err != nil {
			return fmt.Errorf("rope_scaling: %w", err)
		}
	}
	if !(theta > 0) || theta > 1e12 {
		return fmt.Errorf("rope_theta must be positive, got %g", theta)
	}
	prf := 1.0
	if c.PartialRotaryFactor != nil {
		prf = *c.PartialRotaryFactor
		if !(prf > 0 && prf <= 1) {
			return fmt.Errorf("partial_rotary_factor must be in (0, 1], got %g", prf)
		}
	}
	c.Rope = tensor.RoPEConfig{Theta: theta, HeadDim: c.HeadDim, PartialRotaryFactor: prf, MaxPositionEmbeddings: c.MaxPositionEmbeddings, Scaling: sc}
	if _, _, err := tensor.RoPEInvFreq(c.Rope); err != nil {
		return err
	}
	return nil
}

// resolveWindows sets the sliding window of every layer as transformers
// does: Mistral applies sliding_window (default 4096) to all layers; Qwen2
// and Qwen3 only with use_sliding_window, to layers whose layer_types entry
// is "sliding_attention", by default those at index ≥ max_window_layers.
func (c *Config) resolveWindows() error {
	n := c.NumHiddenLayers
	c.Windows = make([]int, n)
	if c.LayerTypes != nil && len(c.LayerTypes) != n {
		return fmt.Errorf("layer_types has %d entries for %d layers", len(c.LayerTypes), n)
	}
	for i, t := range c.LayerTypes {
		if t != "full_attention" && t != "sliding_attention" {
			return fmt.Errorf("layer_types[%d] = %q is not supported (want full_attention or sliding_attention)", i, t)
		}
	}
	window := 4096 // the config classes' default when the key is absent
	if len(c.SlidingWindow) > 0 {
		if string(c.SlidingWindow) == "null" {
			window = 0
		} else if err := json.Unmarshal(c.SlidingWindow, &window); err != nil || window <= 0 {
			return fmt.Errorf("sliding_window must be a positive integer or null, got %s", c.SlidingWindow)
		}
	}
	switch c.Arch {
	case "mistral":
		for i := range c.Windows {
			if c.LayerTypes == nil || c.LayerTypes[i] == "sliding_attention" {
				c.Windows[i] = window
			}
		}
	case "qwen2", "qwen3":
		if c.UseSlidingWindow == nil || !*c.UseSlidingWindow || window == 0 {
			return nil
		}
		mwl := 28
		if c.MaxWindowLayers != nil {
			mwl = *c.MaxWindowLayers
		}
		for i := range c.Windows {
			sliding := i >= mwl
			if c.LayerTypes != nil {
				sliding = c.LayerTypes[i] == "sliding_attention"
			}
			if sliding {
				c.Windows[i] = window
			}
		}
	case "llama":
		if c.LayerTypes != nil && strings.Contains(strings.Join(c.LayerTypes, ","), "sliding") {
			return errors.New("llama models have no sliding-window layers (layer_types)")
		}
	}
	return nil
}

// tokenIDs decodes an id field that may be an integer, a list or null.
func tokenIDs(raw json.RawMessage, key string) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		if one < 0 {
			return nil, fmt.Errorf("%s %d is negative", key, one)
		}
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%s must be an integer or a list of integers", key)
	}
	for _, v := range many {
		if v < 0 {
			return nil, fmt.Errorf("%s %d is negative", key, v)
		}
	}
	return many, nil
}

// DefaultAuxLayers is the default set of captured layers of EAGLE-3,
// [2, N/2, N−3] (format-spec §6.4), for a verifier of n layers.
func DefaultAuxLayers(n int) []int { return []int{2, n / 2, n - 3} }

// GenerationEOS reads the eos_token_id of generation_config.json in dir
// (nil when the file is absent).
func GenerationEOS(dir string) ([]int, error) {
	p := filepath.Join(dir, "generation_config.json")
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", p, err)
	}
	var g struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("llama: %s: %w", p, err)
	}
	ids, err := tokenIDs(g.EOS, "eos_token_id")
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", p, err)
	}
	return ids, nil
}
