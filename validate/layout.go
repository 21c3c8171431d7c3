package validate

import (
	"fmt"
	"strings"

	"github.com/speculators-go/speculators/config"
)

// Kind is the element kind a tensor must have.
type Kind int

const (
	Float Kind = iota // F16, BF16 or F32 (F64 allowed)
	Int64             // I64
	Bool              // BOOL
)

func (k Kind) String() string {
	switch k {
	case Int64:
		return "I64"
	case Bool:
		return "BOOL"
	}
	return "float"
}

// TensorSpec is one tensor the config implies (format-spec §4).
type TensorSpec struct {
	Name     string
	Shape    []int64
	Kind     Kind
	Required bool
	Why      string // when it is present, for messages
}

// Layout lists the tensors a checkpoint with config c has: required ones and
// optional ones, with their shapes. Names not listed are unexpected, except
// for mtp's decoder layer (see Allowed).
//
// Legend: H hidden, V verifier vocabulary, Vd draft vocabulary, A aux
// layers (3 when the ids are null), Ht target_hidden_size (or H), Hq
// heads*head_dim, Hkv kv_heads*head_dim, I intermediate, r markov_rank.
func Layout(c *config.Speculator) []TensorSpec {
	l := &c.TransformerLayerConfig
	H, V, Vd := int64(l.HiddenSize), int64(l.VocabSize), int64(c.DraftVocabSize())
	A := int64(c.NumAux())
	Ht := H
	hd := int64(l.HeadDimension())
	Hq, Hkv, I := int64(l.NumAttentionHeads)*hd, int64(l.KVHeads())*hd, int64(l.IntermediateSize)
	var out []TensorSpec
	add := func(name string, req bool, why string, shape ...int64) {
		out = append(out, TensorSpec{Name: name, Shape: shape, Kind: Float, Required: req, Why: why})
	}
	decoder := func(prefix string, in int64) {
		add(prefix+"input_layernorm.weight", true, "", H)
		add(prefix+"post_attention_layernorm.weight", true, "", H)
		add(prefix+"self_attn.q_proj.weight", true, "", Hq, in)
		add(prefix+"self_attn.k_proj.weight", true, "", Hkv, in)
		add(prefix+"self_attn.v_proj.weight", true, "", Hkv, in)
		add(prefix+"self_attn.o_proj.weight", true, "", H, Hq)
		if l.AttentionBias {
			add(prefix+"self_attn.q_proj.bias", true, "attention_bias", Hq)
			add(prefix+"self_attn.k_proj.bias", true, "attention_bias", Hkv)
			add(prefix+"self_attn.v_proj.bias", true, "attention_bias", Hkv)
			add(prefix+"self_attn.o_proj.bias", true, "attention_bias", H)
		}
		if l.HasQKNorm() {
			add(prefix+"self_attn.q_norm.weight", true, "qwen3 layers", hd)
			add(prefix+"self_attn.k_norm.weight", true, "qwen3 layers", hd)
		}
		add(prefix+"mlp.gate_proj.weight", true, "", I, H)
		add(prefix+"mlp.up_proj.weight", true, "", I, H)
		add(prefix+"mlp.down_proj.weight", true, "", H, I)
		if l.MLPBias {
			add(prefix+"mlp.gate_proj.bias", true, "mlp_bias", I)
			add(prefix+"mlp.up_proj.bias", true, "mlp_bias", I)
			add(prefix+"mlp.down_proj.bias", true, "mlp_bias", H)
		}
	}
	vocab := func() {
		if Vd != V {
			out = append(out,
				TensorSpec{Name: "d2t", Shape: []int64{Vd}, Kind: Int64, Required: true, Why: "draft_vocab_size != vocab_size"},
				TensorSpec{Name: "t2d", Shape: []int64{V}, Kind: Bool, Required: true, Why: "draft_vocab_size != vocab_size"})
		}
	}
	switch c.SpeculatorsModelType {
	case "eagle3", "peagle":
		e := c.EagleFields()
		if e.TargetHiddenSize != nil {
			Ht = int64(*e.TargetHiddenSize)
		}
		vocab()
		add("embed_tokens.weight", false, "", V, H)
		add("fc.weight", true, "", H, A*Ht)
		if e.NormBeforeFC {
			add("input_norm.weight", true, "norm_before_fc", A*Ht)
		}
		if e.FCNorm {
			for i := int64(0); i < A; i++ {
				add(fmt.Sprintf("fc_norm.%d.weight", i), true, "fc_norm", Ht)
			}
		}
		add("layers.0.hidden_norm.weight", true, "", H)
		for k := 0; k < l.NumHiddenLayers && k < maxLayers; k++ {
			in := H
			if k == 0 {
				in = 2 * H
			}
			decoder(fmt.Sprintf("layers.%d.", k), in)
		}
		add("norm.weight", true, "", H)
		add("lm_head.weight", true, "", Vd, H)
		if c.PEagle != nil {
			add("mask_hidden", true, "peagle", 1, 1, A*Ht)
		}
	case "dflash", "dspark":
		d := c.DFlashFields()
		if d.TargetHiddenSize != nil {
			Ht = int64(*d.TargetHiddenSize)
		}
		vocab()
		add("embed_tokens.weight", false, "", V, H)
		add("fc.weight", true, "", H, A*Ht)
		add("hidden_norm.weight", true, "", H)
		for k := 0; k < l.NumHiddenLayers && k < maxLayers; k++ {
			decoder(fmt.Sprintf("layers.%d.", k), H)
		}
		add("norm.weight", true, "", H)
		// vLLM shares the verifier's lm_head when absent, which only fits
		// when there is no vocabulary reduction.
		add("lm_head.weight", Vd != V, "draft_vocab_size != vocab_size", Vd, H)
		if s := c.DSpark; s != nil && s.MarkovRank > 0 {
			r := int64(s.MarkovRank)
			add("markov_head.markov_w1.weight", true, "markov_rank > 0", V, r)
			add("markov_head.markov_w2.weight", true, "markov_rank > 0", Vd, r)
			switch s.MarkovHeadType {
			case "gated":
				add("markov_head.gate_proj.weight", true, "markov_head_type gated", r, H+r)
				add("markov_head.gate_proj.bias", true, "markov_head_type gated", r)
			case "rnn":
				add("markov_head.joint_proj.weight", true, "markov_head_type rnn", 3*r, 2*r+H)
				add("markov_head.joint_proj.bias", true, "markov_head_type rnn", 3*r)
			}
		}
		if s := c.DSpark; s != nil && s.EnableConfidenceHead {
			in := H
			if s.ConfidenceHeadWithMarkov {
				in += int64(s.MarkovRank)
			}
			add("confidence_head.proj.weight", false, "enable_confidence_head", 1, in)
			add("confidence_head.proj.bias", false, "enable_confidence_head", 1)
		}
	case "mtp":
		p := "mtp_layers.0."
		add(p+"input_proj.weight", true, "", H, 2*H)
		add(p+"hidden_layernorm.weight", true, "", H)
		add(p+"token_layernorm.weight", true, "", H)
		add(p+"final_layernorm.weight", true, "", H)
		add(p+"input_layernorm.weight", true, "", H)
		add(p+"post_attention_layernorm.weight", true, "", H)
	}
	return out
}

// maxLayers bounds the layers listed, against hostile num_hidden_layers.
const maxLayers = 1024

// Allowed reports whether a tensor not in Layout is still expected: the
// attention and MLP of mtp's decoder layer, whose names depend on the
// verifier's own layer class (MoE, linear attention).
func Allowed(c *config.Speculator, name string) bool {
	if c.SpeculatorsModelType != "mtp" {
		return false
	}
	return strings.HasPrefix(name, "mtp_layers.0.self_attn.") || strings.HasPrefix(name, "mtp_layers.0.mlp.") ||
		strings.HasPrefix(name, "mtp_layers.0.linear_attn.")
}
