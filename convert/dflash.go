package convert

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// dflashDroppedConfigKeys are the z-lab keys that are not part of the
// draft's transformer_layer_config (§5.2 step 2), plus bookkeeping keys.
var dflashDroppedConfigKeys = []string{"architectures", "auto_map", "block_size", "dflash_config", "num_target_layers", "transformers_version", "_name_or_path", "torch_dtype", "dtype"}

// Verifier tensor names tried, in order, for the embedding and the
// lm_head (§5.2 step 6): exact name, then the first name ending with it, then
// these aliases.
var (
	embedAliases  = []string{"tok_embeddings.weight", "llm.embed.weight"}
	lmHeadAliases = []string{"output.weight", "llm.unembed.weight"}
)

// dflash converts a z-lab DFlash checkpoint (format-spec §5.2).
func (j *job) dflash() error {
	s, kw := j.srcCfg, j.opts.Kwargs
	dc, _ := s["dflash_config"].(map[string]any)
	if dc == nil {
		dc = map[string]any{}
	}
	block, err := intOr(s, "block_size", 0)
	if err != nil {
		return err
	}
	if block == 0 {
		if block, err = intOr(dc, "block_size", 0); err != nil {
			return fmt.Errorf("dflash_config.%w", err)
		}
	}
	if block < 2 {
		return fmt.Errorf("no block_size (>= 2) at the top level or in dflash_config of %s/config.json", j.srcDir)
	}
	layer := map[string]any{}
	for k, v := range s {
		if !slices.Contains(dflashDroppedConfigKeys, k) {
			layer[k] = v
		}
	}
	if _, ok := layer["model_type"]; !ok {
		layer["model_type"] = "qwen3"
	}
	H, err := matchHidden(s, j.verCfg, "draft")
	if err != nil {
		return err
	}
	N, err := verifierInt(j.verCfg, "num_hidden_layers")
	if err != nil {
		return err
	}
	aux, ok, err := intList(kw, "aux_hidden_state_layer_ids")
	if err != nil {
		return err
	}
	if !ok {
		// z-lab ids index HF hidden_states[t+1]; speculators uses capture ids,
		// and the verifier's last layer is captured separately.
		tl, ok, err := intList(dc, "target_layer_ids")
		if err != nil {
			return fmt.Errorf("dflash_config.%w", err)
		}
		if !ok {
			return fmt.Errorf("no dflash_config.target_layer_ids in %s/config.json; pass aux_hidden_state_layer_ids in --algorithm-kwargs", j.srcDir)
		}
		aux = []int64{}
		for _, t := range tl {
			if t+1 != N {
				aux = append(aux, t+1)
			}
		}
	}
	if len(aux) == 0 {
		return fmt.Errorf("no aux hidden state layer ids left")
	}
	var mask any
	if m, ok, err := getInt(dc, "mask_token_id"); err != nil {
		return fmt.Errorf("dflash_config.%w", err)
	} else if ok {
		mask = m
	}
	V, err := intOr(s, "vocab_size", 0)
	if err != nil {
		return err
	}

	// Weights.
	names := j.src.Names()
	fused := false
	for _, n := range names {
		fused = fused || strings.Contains(n, "qkv_proj")
	}
	heads, err := intOr(s, "num_attention_heads", 0)
	if err != nil {
		return err
	}
	kv, err := intOr(s, "num_key_value_heads", heads)
	if err != nil {
		return err
	}
	hd, ok, err := getInt(s, "head_dim")
	if err != nil {
		return err
	}
	if !ok && heads > 0 {
		hd = H / heads
	}
	Hq, Hkv := heads*hd, kv*hd
	for _, n := range names {
		t, _ := j.src.Tensor(n)
		switch {
		case n == "d2t" || n == "t2d":
			j.drop(n, "the DFlash converter keeps the full vocabulary")
		case n == "embed_tokens.weight" || n == "lm_head.weight":
			j.drop(n, "replaced by the verifier's")
		case fused && (strings.Contains(n, ".g_proj.") || strings.HasPrefix(n, "aux_hidden_norms.")):
			j.drop(n, "Laguna-style module that the speculators/vLLM DFlash model does not have")
		case strings.Contains(n, "qkv_proj"):
			if len(t.Shape) == 0 || t.Shape[0] != Hq+2*Hkv {
				return fmt.Errorf("%s has shape %v; want %d = %d (q) + 2*%d (k, v) rows", n, t.Shape, Hq+2*Hkv, Hq, Hkv)
			}
			for i, p := range []string{"q_proj", "k_proj", "v_proj"} {
				to := strings.Replace(n, "qkv_proj", p, 1)
				if _, dup := j.src.Tensor(to); dup {
					return fmt.Errorf("%s and %s both present: fused and separate projections", n, to)
				}
				r0 := []int64{0, Hq, Hq + Hkv}[i]
				r1 := []int64{Hq, Hq + Hkv, Hq + 2*Hkv}[i]
				j.outs = append(j.outs, rowRange(to, t, r0, r1))
			}
		case n == "fc.weight" && fused && len(t.Shape) == 2 && t.Shape[1] > int64(len(aux))*H:
			j.logf("truncating fc.weight from %d to %d input columns (%d aux layers)", t.Shape[1], int64(len(aux))*H, len(aux))
			j.outs = append(j.outs, colRange(n, t, 0, int64(len(aux))*H))
		default:
			j.outs = append(j.outs, whole(n, t))
		}
	}
	if fc, ok := j.src.Tensor("fc.weight"); ok && fc.DType.IsFloat() {
		j.dtype = fc.DType // the Python converter casts to the body's dtype
	}

	// Embedding and lm_head from the verifier.
	ver, err := OpenSource(j.verDir)
	if err != nil {
		return fmt.Errorf("verifier weights: %w", err)
	}
	j.closers = append(j.closers, ver.Close)
	emb := lookup(ver, "embed_tokens.weight", embedAliases)
	if emb == nil {
		return fmt.Errorf("verifier %s has no embedding (looked for *embed_tokens.weight, %s)", j.verDir, strings.Join(embedAliases, ", "))
	}
	head := lookup(ver, "lm_head.weight", lmHeadAliases)
	if head == nil {
		j.logf("verifier has no lm_head; using its embedding (tied weights)")
		head = emb
	}
	j.outs = append(j.outs, whole("embed_tokens.weight", emb), whole("lm_head.weight", head))
	j.logf("embed_tokens.weight from verifier %s, lm_head.weight from verifier %s", emb.Name, head.Name)
	j.extraSchema = func(sc schema) {
		sc.need("embed_tokens.weight", V, H)
		sc.need("lm_head.weight", V, H)
	}

	j.cfg = map[string]any{
		"architectures":              []any{"DFlashDraftModel"},
		"auto_map":                   map[string]any{"": "config.DFlashSpeculatorConfig"},
		"aux_hidden_state_layer_ids": aux,
		"block_size":                 block,
		"draft_vocab_size":           V,
		"mask_token_id":              mask,
		"sample_from_anchor":         false,
		"sliding_window_non_causal":  false,
		"speculators_config":         speculatorsConfig("dflash", block-1, j.opts.Verifier, verifierArchitectures(j.verCfg, []any{})),
		"speculators_model_type":     "dflash",
		"target_hidden_size":         nil,
		"tie_word_embeddings":        false,
		"transformer_layer_config":   layer,
	}
	return nil
}

// verifierInt reads an integer from the verifier config, looking inside
// text_config for multimodal verifiers.
// matchHidden returns cfg's hidden_size, an error unless the verifier's
// is the same; what names cfg in the message.
func matchHidden(cfg, ver map[string]any, what string) (int64, error) {
	H, err := intOr(cfg, "hidden_size", 0)
	if err != nil {
		return 0, err
	}
	vh, err := verifierInt(ver, "hidden_size")
	if err != nil {
		return 0, err
	}
	if H != vh {
		return 0, fmt.Errorf("architecture mismatch: %s hidden_size %d, verifier hidden_size %d", what, H, vh)
	}
	return H, nil
}

func verifierInt(ver map[string]any, key string) (int64, error) {
	if v, ok, err := getInt(ver, key); err != nil || ok {
		return v, err
	}
	if tc, ok := ver["text_config"].(map[string]any); ok {
		if v, ok, err := getInt(tc, key); err != nil || ok {
			return v, err
		}
	}
	v, ok := findKey(ver, key)
	if n, isNum := v.(json.Number); ok && isNum {
		return n.Int64()
	}
	return 0, fmt.Errorf("verifier config has no %s", key)
}

// lookup finds a verifier tensor by exact name, then by suffix, then by
// alias.
func lookup(src *Source, name string, aliases []string) *Tensor {
	if t, ok := src.Tensor(name); ok {
		return t
	}
	for _, n := range src.Names() {
		if strings.HasSuffix(n, "."+name) {
			t, _ := src.Tensor(n)
			return t
		}
	}
	for _, a := range aliases {
		if t, ok := src.Tensor(a); ok {
			return t
		}
	}
	return nil
}
