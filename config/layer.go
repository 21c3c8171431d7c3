package config

import (
	"encoding/json"
	"strconv"
)

// LayerConfig is transformer_layer_config: the Hugging Face config of the
// draft's decoder layers (llama or qwen3 for eagle3; qwen3 for dflash; the
// whole verifier text config for mtp). It is a diff against the class
// defaults, so which keys appear varies; the keys below are the ones the
// draft's shapes depend on, every other key is kept in Extra.
//
// Numbers that Python may hold as int or float (rope_theta 5000000 vs
// 10000.0) are json.Number so that they are written back as read.
type LayerConfig struct {
	ModelType             string   `json:"model_type"`
	VocabSize             int      `json:"vocab_size"` // the verifier's vocabulary
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"` // draft layers
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      *int     `json:"num_key_value_heads"` // null means num_attention_heads
	HeadDim               *int     `json:"head_dim"`            // null means hidden_size / num_attention_heads
	HiddenAct             string   `json:"hidden_act"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            Number   `json:"rms_norm_eps"`
	RopeTheta             Number   `json:"rope_theta"`
	RopeScaling           any      `json:"rope_scaling"`    // object or null
	RopeParameters        any      `json:"rope_parameters"` // transformers 5
	AttentionBias         bool     `json:"attention_bias"`
	AttentionDropout      Number   `json:"attention_dropout"`
	MLPBias               bool     `json:"mlp_bias"` // llama
	InitializerRange      Number   `json:"initializer_range"`
	PretrainingTP         int      `json:"pretraining_tp"` // llama
	UseCache              bool     `json:"use_cache"`
	LayerTypes            []string `json:"layer_types"`
	SlidingWindow         *int     `json:"sliding_window"`
	UseSlidingWindow      bool     `json:"use_sliding_window"`
	MaxWindowLayers       *int     `json:"max_window_layers"` // qwen3
	Object
}

// Number is a JSON number kept as its text: with a '.', 'e' or 'E' it is a
// Python float, else a Python int. Float and Int make one from Go values.
type Number = json.Number

// Float returns f as a Number that is written as a Python float (1e-06, 10000.0).
func Float(f float64) Number { return Number(PyFloat(f)) }

// Int returns i as a Number that is written as a Python int.
func Int(i int64) Number { return Number(strconv.FormatInt(i, 10)) }

// KVHeads is num_key_value_heads, or num_attention_heads when absent or null.
func (l *LayerConfig) KVHeads() int {
	if l.NumKeyValueHeads != nil {
		return *l.NumKeyValueHeads
	}
	return l.NumAttentionHeads
}

// HeadDimension is head_dim; when absent, Qwen3Config's default 128 for
// qwen3 layers, else (and when null) hidden_size / num_attention_heads as
// LlamaConfig computes it (0 when that is undefined).
func (l *LayerConfig) HeadDimension() int {
	if l.HeadDim != nil {
		return *l.HeadDim
	}
	if !l.Has("head_dim") && l.EffectiveModelType() == "qwen3" {
		return 128
	}
	if l.NumAttentionHeads <= 0 {
		return 0
	}
	return l.HiddenSize / l.NumAttentionHeads
}

// EffectiveModelType is model_type, or qwen3 when absent (speculators assumes
// Qwen3Config then).
func (l *LayerConfig) EffectiveModelType() string {
	if l.ModelType == "" {
		return "qwen3"
	}
	return l.ModelType
}

// HasQKNorm reports whether the attention has q_norm/k_norm (qwen3-style).
func (l *LayerConfig) HasQKNorm() bool {
	switch l.EffectiveModelType() {
	case "qwen3", "qwen3_moe", "qwen3_next", "qwen3_5_text", "qwen3_5_moe_text":
		return true
	}
	return false
}
