// Package testmodel writes tiny random verifier checkpoints in Hugging Face
// layout (config.json, generation_config.json, safetensors weights, a
// byte-level BPE tokenizer.json and a ChatML chat template in
// tokenizer_config.json) for every architecture the embedded runtime
// supports, so that tests across the module (runtime, datagen, training,
// speculative decoding, evaluation) run on real files without downloads.
//
// The output is a pure function of Options: the same options give the same
// bytes, so golden outputs computed once by a reference implementation stay
// valid.
package testmodel

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/speculators-go/speculators/safetensors"
)

// Options describes a checkpoint. Start from Tiny(arch) and change fields.
type Options struct {
	Arch          string // llama, mistral, qwen2 or qwen3
	Layers        int
	Hidden        int
	Heads         int
	KVHeads       int
	HeadDim       int // 0: hidden/heads and no head_dim key (qwen3 always writes it)
	Intermediate  int
	Vocab         int // model vocabulary; at least TokenizerVocab()
	Tied          bool
	AttentionBias bool // attention_bias for llama and qwen3 (qwen2 always has q/k/v biases)
	MLPBias       bool // mlp_bias (llama)
	RopeTheta     float64
	RopeScaling   map[string]any // written as rope_scaling; nil writes null
	MaxPosition   int
	// SlidingWindow: for mistral the window of every layer (0 writes null);
	// for qwen2/qwen3 the window of layers ≥ MaxWindowLayers when
	// UseSlidingWindow is set.
	SlidingWindow    int
	UseSlidingWindow bool
	MaxWindowLayers  int
	DType            safetensors.DType // F32 (default), BF16 or F16
	ShardSize        int64             // > 0 writes sharded safetensors with an index
	Seed             uint64
	NoTokenizer      bool // skip tokenizer.json and tokenizer_config.json
	// Extra config.json keys, added last (may override).
	Extra map[string]any
}

// Tiny returns small options for arch: 4 layers, hidden 64, 4 heads over
// 2 key/value heads, MLP 128, vocabulary 320, float32 weights.
func Tiny(arch string) Options {
	o := Options{Arch: arch, Layers: 4, Hidden: 64, Heads: 4, KVHeads: 2, Intermediate: 128,
		Vocab: 320, RopeTheta: 10000, MaxPosition: 2048, DType: safetensors.F32, Seed: 1}
	switch arch {
	case "qwen3":
		o.HeadDim = 32 // head_dim ≠ hidden/heads, as in real Qwen3 models
		o.Tied = true
		o.RopeTheta = 1000000
	case "qwen2":
		o.RopeTheta = 1000000
		o.MaxWindowLayers = 2
	case "mistral":
		o.SlidingWindow = 0
	}
	return o
}

var archClass = map[string]string{
	"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
	"qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
}

func (o *Options) check() error {
	if _, ok := archClass[o.Arch]; !ok {
		return fmt.Errorf("testmodel: unknown arch %q (llama, mistral, qwen2, qwen3)", o.Arch)
	}
	if o.Layers <= 0 || o.Hidden <= 0 || o.Heads <= 0 || o.KVHeads <= 0 || o.Intermediate <= 0 || o.Heads%o.KVHeads != 0 {
		return fmt.Errorf("testmodel: bad sizes %+v", *o)
	}
	if o.HeadDim == 0 && o.Hidden%o.Heads != 0 {
		return fmt.Errorf("testmodel: hidden %d not divisible by heads %d", o.Hidden, o.Heads)
	}
	if !o.NoTokenizer && o.Vocab < TokenizerVocab() {
		return fmt.Errorf("testmodel: vocab %d smaller than the tokenizer's %d", o.Vocab, TokenizerVocab())
	}
	switch o.DType {
	case "":
		o.DType = safetensors.F32
	case safetensors.F32, safetensors.BF16, safetensors.F16:
	default:
		return fmt.Errorf("testmodel: dtype %s", o.DType)
	}
	return nil
}

func (o *Options) headDim() int {
	if o.HeadDim != 0 {
		return o.HeadDim
	}
	return o.Hidden / o.Heads
}

// Config returns the config.json object for o.
func (o Options) Config() map[string]any {
	torchDType := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16", "": "float32"}[o.DType]
	c := map[string]any{
		"architectures":           []string{archClass[o.Arch]},
		"model_type":              o.Arch,
		"hidden_size":             o.Hidden,
		"intermediate_size":       o.Intermediate,
		"num_hidden_layers":       o.Layers,
		"num_attention_heads":     o.Heads,
		"num_key_value_heads":     o.KVHeads,
		"vocab_size":              o.Vocab,
		"rms_norm_eps":            1e-6,
		"rope_theta":              o.RopeTheta,
		"rope_scaling":            o.RopeScaling,
		"max_position_embeddings": o.MaxPosition,
		"hidden_act":              "silu",
		"tie_word_embeddings":     o.Tied,
		"torch_dtype":             torchDType,
		"initializer_range":       0.02,
		"use_cache":               true,
		"bos_token_id":            nil,
		"eos_token_id":            IMEnd,
		"transformers_version":    "4.57.1",
	}
	if o.HeadDim != 0 || o.Arch == "qwen3" {
		c["head_dim"] = o.headDim()
	}
	switch o.Arch {
	case "llama":
		c["attention_bias"] = o.AttentionBias
		c["mlp_bias"] = o.MLPBias
	case "qwen3":
		c["attention_bias"] = o.AttentionBias
	}
	switch o.Arch {
	case "mistral":
		if o.SlidingWindow > 0 {
			c["sliding_window"] = o.SlidingWindow
		} else {
			c["sliding_window"] = nil
		}
	case "qwen2", "qwen3":
		c["use_sliding_window"] = o.UseSlidingWindow
		c["max_window_layers"] = o.MaxWindowLayers
		if o.SlidingWindow > 0 {
			c["sliding_window"] = o.SlidingWindow
		} else {
			c["sliding_window"] = nil
		}
	}
	for k, v := range o.Extra {
		c[k] = v
	}
	return c
}

// Tensors returns the weights of o in state-dict order, as float32 values
// already rounded to o.DType.
func (o Options) Tensors() ([]string, [][]int64, [][]float32, error) {
	if err := o.check(); err != nil {
		return nil, nil, nil, err
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	H, I, V := o.Hidden, o.Intermediate, o.Vocab
	hd := o.headDim()
	qd, kvd := o.Heads*hd, o.KVHeads*hd
	var names []string
	var shapes [][]int64
	var data [][]float32
	// Linear weights ~ N(0, 1/in) keep activations O(1) through the layers;
	// norm weights 1 + N(0, 0.1²) make a missing or misplaced norm visible.
	normal := func(name string, std float64, offset float32, shape ...int) {
		n := 1
		s := make([]int64, len(shape))
		for i, d := range shape {
			n *= d
			s[i] = int64(d)
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = roundTo(o.DType, offset+float32(r.NormFloat64()*std))
		}
		names, shapes, data = append(names, name), append(shapes, s), append(data, x)
	}
	lin := func(name string, out, in int) { normal(name, 1/math.Sqrt(float64(in)), 0, out, in) }
	normal("model.embed_tokens.weight", 1, 0, V, H)
	for l := 0; l < o.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		normal(p+"input_layernorm.weight", 0.1, 1, H)
		lin(p+"self_attn.q_proj.weight", qd, H)
		lin(p+"self_attn.k_proj.weight", kvd, H)
		lin(p+"self_attn.v_proj.weight", kvd, H)
		lin(p+"self_attn.o_proj.weight", H, qd)
		qkvBias := o.Arch == "qwen2" || (o.AttentionBias && (o.Arch == "llama" || o.Arch == "qwen3"))
		if qkvBias {
			normal(p+"self_attn.q_proj.bias", 0.1, 0, qd)
			normal(p+"self_attn.k_proj.bias", 0.1, 0, kvd)
			normal(p+"self_attn.v_proj.bias", 0.1, 0, kvd)
		}
		if o.AttentionBias && (o.Arch == "llama" || o.Arch == "qwen3") {
			normal(p+"self_attn.o_proj.bias", 0.1, 0, H)
		}
		if o.Arch == "qwen3" {
			normal(p+"self_attn.q_norm.weight", 0.1, 1, hd)
			normal(p+"self_attn.k_norm.weight", 0.1, 1, hd)
		}
		normal(p+"post_attention_layernorm.weight", 0.1, 1, H)
		lin(p+"mlp.gate_proj.weight", I, H)
		lin(p+"mlp.up_proj.weight", I, H)
		lin(p+"mlp.down_proj.weight", H, I)
		if o.MLPBias && o.Arch == "llama" {
			normal(p+"mlp.gate_proj.bias", 0.1, 0, I)
			normal(p+"mlp.up_proj.bias", 0.1, 0, I)
			normal(p+"mlp.down_proj.bias", 0.1, 0, H)
		}
	}
	normal("model.norm.weight", 0.1, 1, H)
	if !o.Tied {
		lin("lm_head.weight", V, H)
	}
	return names, shapes, data, nil
}

func roundTo(dt safetensors.DType, x float32) float32 {
	switch dt {
	case safetensors.BF16:
		return safetensors.BF16ToFloat32(safetensors.Float32ToBF16(x))
	case safetensors.F16:
		return safetensors.F16ToFloat32(safetensors.Float32ToF16(x))
	}
	return x
}

// Write creates dir (if needed) and writes the checkpoint of o into it.
func Write(dir string, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	names, shapes, data, err := o.Tensors()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	ts := make([]safetensors.Tensor, len(names))
	for i := range names {
		b, err := safetensors.EncodeFloat32(o.DType, data[i])
		if err != nil {
			return fmt.Errorf("testmodel: %s: %w", names[i], err)
		}
		ts[i] = safetensors.Tensor{Name: names[i], DType: o.DType, Shape: shapes[i], Data: b}
	}
	if err := safetensors.WriteDir(dir, ts, map[string]string{"format": "pt"}, o.ShardSize); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), o.Config()); err != nil {
		return err
	}
	gen := map[string]any{"bos_token_id": nil, "eos_token_id": []int{IMEnd, EndOfText}, "transformers_version": "4.57.1"}
	if err := writeJSON(filepath.Join(dir, "generation_config.json"), gen); err != nil {
		return err
	}
	if o.NoTokenizer {
		return nil
	}
	return WriteTokenizer(dir)
}

// WriteTiny writes Tiny(arch) into a new directory under dir and returns its path.
func WriteTiny(dir, arch string) (string, error) {
	p := filepath.Join(dir, arch)
	return p, Write(p, Tiny(arch))
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("testmodel: %s: %w", path, err)
	}
	if err := safetensors.WriteAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	return nil
}

// Bench100M returns the options of a Llama-shaped model of about 100M
// parameters (hidden 768, 12 layers, 12 heads over 4 key/value heads, MLP
// 2048, vocabulary 32000, tied embeddings) for throughput benchmarks.
func Bench100M() Options {
	return Options{Arch: "llama", Layers: 12, Hidden: 768, Heads: 12, KVHeads: 4, Intermediate: 2048,
		Vocab: 32000, Tied: true, RopeTheta: 500000, MaxPosition: 4096, DType: safetensors.BF16, Seed: 100}
}
