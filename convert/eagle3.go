package convert

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/speculators-go/speculators/safetensors"
)

// Eagle3Rules rename the SafeAILab / SpecForge / NVIDIA / AngelSlim EAGLE-3
// layout to the speculators one (format-spec §4.7, §5.1). Names not matched
// are kept (fc, norm, lm_head, d2t, t2d, embed_tokens, input_norm,
// fc_norm.N, layers.N).
var Eagle3Rules = []Rule{
	{"midlayer.{n}.", "layers.{n}."}, // multi-layer sources
	{"midlayer.", "layers.0."},
}

// eagle3 converts an EAGLE-3 research checkpoint. Unlike the Python
// converter it keeps every decoder layer and the input_norm / fc_norm
// tensors, takes the fc width from the tensor, and fails on any tensor it
// cannot place.
func (j *job) eagle3() error {
	s, kw := j.srcCfg, j.opts.Kwargs
	for _, name := range j.src.Names() {
		t, _ := j.src.Tensor(name)
		to, _ := Apply(Eagle3Rules, name)
		j.outs = append(j.outs, whole(to, t))
	}
	midlayer := false
	for _, n := range j.src.Names() {
		midlayer = midlayer || strings.HasPrefix(n, "midlayer.")
	}
	j.origin = func(out string) string {
		if rest, ok := strings.CutPrefix(out, "layers.0."); ok && midlayer {
			return "midlayer." + rest
		}
		return out
	}
	find := func(name string) *Output {
		for i := range j.outs {
			if j.outs[i].Name == name {
				return &j.outs[i]
			}
		}
		return nil
	}

	// Vocabulary: t2d fixes the verifier vocabulary (§5.1 step 1).
	H, err := intOr(s, "hidden_size", 4096)
	if err != nil {
		return err
	}
	var V int64
	t2d, d2t := find("t2d"), find("d2t")
	if t2d != nil {
		if len(t2d.Shape) != 1 {
			return fmt.Errorf("t2d has shape %v, want [vocab_size]", t2d.Shape)
		}
		V = t2d.Shape[0]
	} else {
		v, ok := findKey(j.verCfg, "vocab_size")
		n, isNum := v.(json.Number)
		if !ok || !isNum {
			return fmt.Errorf("no t2d in the source and no vocab_size in the verifier config %s/config.json", j.verDir)
		}
		if V, err = n.Int64(); err != nil {
			return fmt.Errorf("verifier vocab_size %s: %w", n, err)
		}
	}
	Vd, hasVd, err := getInt(s, "draft_vocab_size")
	if err != nil {
		return err
	}
	if lm := find("lm_head.weight"); lm != nil && len(lm.Shape) == 2 {
		if !hasVd {
			Vd = lm.Shape[0]
		} else if Vd != lm.Shape[0] {
			return fmt.Errorf("source config draft_vocab_size %d but lm_head.weight has %d rows", Vd, lm.Shape[0])
		}
	} else if !hasVd {
		Vd = 32000
	}
	if Vd == V && (t2d != nil || d2t != nil) {
		// Both present iff Vd != V (§7 vector 5).
		for _, n := range []string{"d2t", "t2d"} {
			if _, ok := j.src.Tensor(n); ok {
				j.drop(n, "draft vocabulary equals the verifier vocabulary, so no mapping is written")
			}
		}
		j.outs = without(j.outs, "d2t", "t2d")
	} else if Vd != V {
		if t2d == nil || d2t == nil {
			return fmt.Errorf("lm_head has %d rows but the verifier vocabulary is %d, and the source lacks d2t/t2d to map between them", Vd, V)
		}
	}

	// Flags: kwargs OR source config OR the tensors' presence.
	nbr, err := boolOf(kw, "norm_before_residual")
	if err != nil {
		return err
	}
	flag := func(key string, present bool) (bool, error) {
		a, err := boolOf(kw, key)
		if err != nil {
			return false, err
		}
		b, err := boolOf(s, key)
		if err != nil {
			return false, err
		}
		if present && !a && !b {
			j.logf("setting %s: the source has its tensors", key)
		}
		return a || b || present, nil
	}
	hasFCNorm := false
	for _, o := range j.outs {
		if strings.HasPrefix(o.Name, "fc_norm.") {
			hasFCNorm = true
		}
	}
	nbf, err := flag("norm_before_fc", find("input_norm.weight") != nil)
	if err != nil {
		return err
	}
	fcn, err := flag("fc_norm", hasFCNorm)
	if err != nil {
		return err
	}
	nout, err := flag("norm_output", false)
	if err != nil {
		return err
	}
	if nbf && fcn {
		return fmt.Errorf("norm_before_fc and fc_norm are both set; a draft has one or the other")
	}
	aux, hasAux, err := intList(kw, "eagle_aux_hidden_state_layer_ids")
	if err != nil {
		return err
	}
	var auxVal any
	if hasAux {
		auxVal = aux
	}

	// fc width: A aux states of width target_hidden_size (or H).
	var target any
	Ht := H
	if v, ok, err := getInt(s, "target_hidden_size"); err != nil {
		return err
	} else if ok {
		target, Ht = v, v
	}
	if fc := find("fc.weight"); fc != nil && len(fc.Shape) == 2 && Ht > 0 {
		A := int64(3)
		if hasAux {
			A = int64(len(aux))
		}
		if fc.Shape[1] != A*Ht {
			return fmt.Errorf("fc.weight has shape %v: %d inputs of width %d, but the config implies %d (pass the verifier layer ids with --algorithm-kwargs '{\"eagle_aux_hidden_state_layer_ids\": [...]}')", fc.Shape, fc.Shape[1]/Ht, Ht, A)
		}
	}

	layer, err := eagle3LayerConfig(s, j.verCfg, V)
	if err != nil {
		return err
	}
	if dt, ok := s["torch_dtype"].(string); ok {
		if d, err := safetensors.ParseDType(dt); err == nil && d.IsFloat() {
			j.dtype = d // the Python converter casts to the source torch_dtype
		}
	}
	j.cfg = map[string]any{
		"architectures":                    []any{"Eagle3Speculator"},
		"auto_map":                         map[string]any{"": "config.Eagle3SpeculatorConfig"},
		"draft_vocab_size":                 Vd,
		"eagle_aux_hidden_state_layer_ids": auxVal,
		"embed_requires_grad":              false,
		"fc_norm":                          fcn,
		"norm_before_fc":                   nbf,
		"norm_before_residual":             nbr,
		"norm_output":                      nout,
		"speculators_config":               speculatorsConfig("eagle3", 3, j.opts.Verifier, verifierArchitectures(j.verCfg, []any{"LlamaForCausalLM"})),
		"speculators_model_type":           "eagle3",
		"target_hidden_size":               target,
		"tie_word_embeddings":              false,
		"transformer_layer_config":         layer,
	}
	return nil
}

// eagle3LayerConfig builds the LlamaConfig of §5.1 step 2 as transformers
// 4.57 serializes it (the keys of LlamaConfig that are not base keys).
func eagle3LayerConfig(s, ver map[string]any, V int64) (map[string]any, error) {
	l := map[string]any{"model_type": "llama", "vocab_size": V, "use_cache": true, "pretraining_tp": 1}
	for _, d := range []struct {
		key string
		def int64
	}{{"hidden_size", 4096}, {"intermediate_size", 11008}, {"num_hidden_layers", 1}, {"num_attention_heads", 32}, {"num_key_value_heads", 8}} {
		v, err := intOr(s, d.key, d.def)
		if err != nil {
			return nil, err
		}
		l[d.key] = v
	}
	sp, err := intOr(s, "max_position_embeddings", 4096)
	if err != nil {
		return nil, err
	}
	vp, err := intOr(ver, "max_position_embeddings", 4096)
	if err != nil {
		return nil, fmt.Errorf("verifier %w", err)
	}
	l["max_position_embeddings"] = max(sp, vp)
	hd, ok, err := getInt(s, "head_dim")
	if err != nil {
		return nil, err
	}
	if !ok {
		heads := l["num_attention_heads"].(int64)
		if heads <= 0 {
			return nil, fmt.Errorf("num_attention_heads %d", heads)
		}
		hd = l["hidden_size"].(int64) / heads
	}
	l["head_dim"] = hd
	str := func(key, def string) {
		if v, ok := s[key].(string); ok {
			l[key] = v
		} else {
			l[key] = def
		}
	}
	str("hidden_act", "silu")
	num := func(key string, def float64) {
		if v, ok := s[key].(json.Number); ok {
			l[key] = v
		} else {
			l[key] = def
		}
	}
	num("initializer_range", 0.02)
	num("rms_norm_eps", 1e-6)
	num("rope_theta", 10000.0) // the draft's own, not the verifier's (§7 vector 10)
	num("attention_dropout", 0.0)
	for _, k := range []string{"attention_bias", "mlp_bias"} {
		b, err := boolOf(s, k)
		if err != nil {
			return nil, err
		}
		l[k] = b
	}
	l["rope_scaling"] = s["rope_scaling"]
	return l, nil
}

func without(outs []Output, names ...string) []Output {
	var out []Output
	for _, o := range outs {
		if !slices.Contains(names, o.Name) {
			out = append(out, o)
		}
	}
	return out
}
