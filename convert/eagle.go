package convert

import (
	"encoding/json"
	"fmt"
	"strings"
)

// EagleRules rename EAGLE-1/2 and HASS checkpoints (SafeAILab cnets1.py) to
// the historical speculators "eagle" layout (format-spec §5.5). The
// layernorm rules apply only when the checkpoint has the extra layernorms.
var (
	EagleRules = []Rule{
		{"fc.", "fusion_fc."},
		{"layers.0.", "transformer."},
	}
	EagleLayernormRules = []Rule{
		{"embed_layernorm.weight", "embedding_layernorm.weight"},
		{"hidden_layernorm.weight", "transformer.input_layernorm.weight"},
		{"lm_head_layernorm.weight", "pre_lm_head_layernorm.weight"},
	}
)

// eagle converts EAGLE-1 / HASS checkpoints to the historical eagle form,
// which the Python library removed in June 2026 and current vLLM does not
// serve (format-spec §3.6).
func (j *job) eagle() error {
	s, kw := j.srcCfg, j.opts.Kwargs
	_, hasBias := j.src.Tensor("fc.bias")
	fusionBias := hasBias
	if v, ok := kw["fusion_bias"]; ok {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("fusion_bias must be true or false")
		}
		fusionBias = b
	}
	layernorms := false
	for _, r := range EagleLayernormRules {
		if _, ok := j.src.Tensor(r.From); ok {
			layernorms = true
		}
	}
	if v, ok := kw["layernorms"]; ok {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("layernorms must be true or false")
		}
		layernorms = b
	}
	for _, n := range j.src.Names() {
		t, _ := j.src.Tensor(n)
		switch {
		case strings.HasPrefix(n, "embed_tokens."):
			j.drop(n, "the eagle speculator shares the verifier's embedding")
		case strings.HasPrefix(n, "lm_head.") || strings.HasPrefix(n, "verifier"):
			j.drop(n, "the eagle speculator uses the verifier's lm_head")
		case n == "fc.bias" && !fusionBias:
			j.drop(n, "fusion_bias is false")
		default:
			if to, ok := Apply(EagleLayernormRules, n); ok {
				if layernorms {
					j.outs = append(j.outs, whole(to, t))
				} else {
					j.drop(n, "layernorms is false")
				}
				continue
			}
			if to, ok := Apply(EagleRules, n); ok {
				j.outs = append(j.outs, whole(to, t))
			}
			// anything else stays unmapped and fails in accountForSources
		}
	}
	l, err := eagleLayerConfig(s)
	if err != nil {
		return err
	}
	H := l["hidden_size"].(int64)
	I := l["intermediate_size"].(int64)
	hd := l["head_dim"].(int64)
	Hq := l["num_attention_heads"].(int64) * hd
	Hkv := l["num_key_value_heads"].(int64) * hd
	j.extraSchema = func(sc schema) {
		sc.need("fusion_fc.weight", H, 2*H)
		if fusionBias {
			sc.need("fusion_fc.bias", H)
		}
		p := "transformer."
		sc.need(p+"self_attn.q_proj.weight", Hq, H)
		sc.need(p+"self_attn.k_proj.weight", Hkv, H)
		sc.need(p+"self_attn.v_proj.weight", Hkv, H)
		sc.need(p+"self_attn.o_proj.weight", H, Hq)
		sc.need(p+"mlp.gate_proj.weight", I, H)
		sc.need(p+"mlp.up_proj.weight", I, H)
		sc.need(p+"mlp.down_proj.weight", H, I)
		sc.need(p+"post_attention_layernorm.weight", H)
		if layernorms {
			sc.need(p+"input_layernorm.weight", H)
			sc.may("embedding_layernorm.weight", H)
			sc.may("pre_lm_head_layernorm.weight", H)
		}
	}
	inv := append(Invert(EagleLayernormRules), Invert(EagleRules)...)
	j.origin = func(out string) string { o, _ := Apply(inv, out); return o }
	j.cfg = map[string]any{
		"architectures":                  []any{"EagleSpeculator", "LlamaDecoderLayer"},
		"auto_map":                       map[string]any{"": "eagle.EagleSpeculatorConfig"},
		"fusion_bias":                    fusionBias,
		"layernorms":                     layernorms,
		"speculators_config":             speculatorsConfig("eagle", 5, j.opts.Verifier, verifierArchitectures(j.verCfg, []any{})),
		"speculators_model_type":         "eagle",
		"tie_word_embeddings":            false,
		"transformer_layer_architecture": "LlamaDecoderLayer",
		"transformer_layer_config":       l,
	}
	return nil
}

// eagleLayerConfig is the single-layer LlamaConfig the historical converter
// built from the EAGLE config.
func eagleLayerConfig(s map[string]any) (map[string]any, error) {
	l := map[string]any{"model_type": "llama", "num_hidden_layers": int64(1), "pretraining_tp": 1}
	for _, d := range []struct {
		key string
		def int64
	}{{"vocab_size", 32000}, {"hidden_size", 4096}, {"intermediate_size", 11008}, {"num_attention_heads", 32}, {"max_position_embeddings", 4096}} {
		v, err := intOr(s, d.key, d.def)
		if err != nil {
			return nil, err
		}
		l[d.key] = v
	}
	kv, err := intOr(s, "num_key_value_heads", l["num_attention_heads"].(int64))
	if err != nil {
		return nil, err
	}
	l["num_key_value_heads"] = kv
	if l["num_attention_heads"].(int64) <= 0 {
		return nil, fmt.Errorf("num_attention_heads %d", l["num_attention_heads"])
	}
	l["head_dim"] = l["hidden_size"].(int64) / l["num_attention_heads"].(int64)
	l["hidden_act"] = "silu"
	if v, ok := s["hidden_act"].(string); ok {
		l["hidden_act"] = v
	}
	for key, def := range map[string]float64{"initializer_range": 0.02, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "attention_dropout": 0.0} {
		if v, ok := s[key].(json.Number); ok {
			l[key] = v
		} else {
			l[key] = def
		}
	}
	for _, k := range []string{"attention_bias", "mlp_bias"} {
		b, err := boolOf(s, k)
		if err != nil {
			return nil, err
		}
		l[k] = b
	}
	l["use_cache"] = true
	if v, ok := s["use_cache"].(bool); ok {
		l["use_cache"] = v
	}
	l["rope_scaling"] = s["rope_scaling"]
	// bos/eos/pad are written only when they differ from LlamaConfig's
	// defaults (1, 2, None).
	for key, def := range map[string]int64{"bos_token_id": 1, "eos_token_id": 2} {
		if v, ok := s[key]; ok && v != nil {
			if n, ok := v.(json.Number); !ok || n.String() != fmt.Sprint(def) {
				l[key] = v
			}
		}
	}
	if v, ok := s["pad_token_id"]; ok && v != nil {
		l["pad_token_id"] = v
	}
	return l, nil
}
