package validate

import (
	"fmt"
	"slices"

	"github.com/speculators-go/speculators/config"
)

// checkConfig applies the rules of format-spec §2-3, §6 and §7 that need
// only the parsed config.
func (r *Report) checkConfig(c *config.Speculator) {
	algo := c.SpeculatorsModelType
	l := &c.TransformerLayerConfig
	const lk = "transformer_layer_config."

	// The decoder hyper-parameters every shape depends on. HF would fill
	// class defaults for absent keys; a draft must not rely on that.
	for _, k := range []struct {
		key string
		v   int
	}{
		{"hidden_size", l.HiddenSize}, {"num_attention_heads", l.NumAttentionHeads},
		{"num_hidden_layers", l.NumHiddenLayers}, {"intermediate_size", l.IntermediateSize},
		{"vocab_size", l.VocabSize},
	} {
		switch {
		case !l.Has(k.key):
			r.add(Error, lk+k.key, "missing: the tensor shapes depend on it and HF would silently use the class default")
		case k.v < 1:
			r.add(Error, lk+k.key, "%d, must be at least 1", k.v)
		}
	}
	if !l.Has("num_key_value_heads") {
		r.add(Warning, lk+"num_key_value_heads", "missing: the class default applies (%d KV heads assumed); write it explicitly", l.KVHeads())
	}
	if !l.Has("head_dim") {
		r.add(Warning, lk+"head_dim", "missing: the class default applies (head_dim %d assumed); write it explicitly", l.HeadDimension())
	}
	if kv := l.KVHeads(); kv < 1 {
		r.add(Error, lk+"num_key_value_heads", "%d, must be at least 1", kv)
	} else if l.NumAttentionHeads > 0 && l.NumAttentionHeads%kv != 0 {
		r.add(Error, lk+"num_key_value_heads", "%d does not divide num_attention_heads %d", kv, l.NumAttentionHeads)
	}
	if l.HeadDim != nil && *l.HeadDim < 1 {
		r.add(Error, lk+"head_dim", "%d, must be at least 1", *l.HeadDim)
	} else if l.HeadDim == nil && l.NumAttentionHeads > 0 && l.HiddenSize%l.NumAttentionHeads != 0 {
		r.add(Error, lk+"head_dim", "absent, and hidden_size %d is not a multiple of num_attention_heads %d", l.HiddenSize, l.NumAttentionHeads)
	}
	if l.LayerTypes != nil && l.NumHiddenLayers > 0 && len(l.LayerTypes) != l.NumHiddenLayers {
		r.add(Error, lk+"layer_types", "has %d entries for num_hidden_layers %d", len(l.LayerTypes), l.NumHiddenLayers)
	}
	if l.Has("rms_norm_eps") {
		if f, err := l.RMSNormEps.Float64(); err != nil || !(f > 0) {
			r.add(Error, lk+"rms_norm_eps", "%s, must be > 0", l.RMSNormEps)
		}
	}

	// §7.3: exactly one greedy proposal, serialized as the writers do.
	sc := &c.SpeculatorsConfig
	if n := len(sc.ProposalMethods); n > 1 {
		r.add(Error, "speculators_config.proposal_methods", "has %d entries; every writer emits exactly one and vLLM uses only the first", n)
	}
	if sc.DefaultProposalMethod != "greedy" {
		r.add(Error, "speculators_config.default_proposal_method", "%q, want \"greedy\"", sc.DefaultProposalMethod)
	}
	for i, p := range sc.ProposalMethods {
		key := fmt.Sprintf("speculators_config.proposal_methods[%d]", i)
		for _, k := range []string{"accept_tolerance", "proposal_type", "speculative_tokens", "verifier_accept_k"} {
			if !p.Has(k) {
				sev := Error
				if k != "speculative_tokens" {
					sev = Warning
				}
				r.add(sev, key+"."+k, "missing; writers always write it (vLLM reads speculative_tokens as num_speculative_tokens)")
			}
		}
		for _, k := range sortedKeys(p.Extra) {
			r.add(Error, key+"."+k, "unknown key in a greedy proposal")
		}
		if p.VerifierAcceptK != 1 {
			r.add(Warning, key+".verifier_accept_k", "%d; writers use 1 and vLLM ignores it", p.VerifierAcceptK)
		}
		if f, err := p.AcceptTolerance.Float64(); err == nil && f != 0 {
			r.add(Warning, key+".accept_tolerance", "%s; writers use 0.0 and vLLM ignores it", p.AcceptTolerance)
		}
	}
	if v := sc.Verifier.NameOrPath; v == nil || *v == "" {
		r.add(Warning, "speculators_config.verifier.name_or_path", "null or empty: `vllm serve` on this directory loads the verifier from it, so it must name the target model")
	}

	// §7.19: what a model save writes.
	if c.AutoMap == nil {
		r.add(Warning, "auto_map", "missing; Python writes {\"\": \"config.%s\"} so that AutoConfig(trust_remote_code) can resolve the config class", config.ConfigClass[algo])
	} else if want := "config." + config.ConfigClass[algo]; len(c.AutoMap) != 1 || c.AutoMap[""] != want {
		if old := legacyAutoMap[algo]; !(len(c.AutoMap) == 1 && c.AutoMap[""] == old) {
			r.add(Error, "auto_map", "%v, want {\"\": %q}", c.AutoMap, want)
		}
	}
	if c.Architectures == nil {
		r.add(Warning, "architectures", "missing; a model save writes [%q]", config.ModelClass[algo])
	} else if len(c.Architectures) != 1 || !slices.Contains(knownArchitectures[algo], c.Architectures[0]) {
		r.add(Error, "architectures", "%q, want one of %q (§1.2)", c.Architectures, knownArchitectures[algo])
	}
	if c.TieWordEmbeddings == nil {
		r.add(Warning, "tie_word_embeddings", "missing; speculators always writes false (HF's default is true)")
	} else if *c.TieWordEmbeddings {
		r.add(Error, "tie_word_embeddings", "true; a draft's lm_head is its own (speculators forces false)")
	}
	if c.FloatDType() == "" {
		r.add(Warning, "dtype", "missing (neither dtype nor torch_dtype is written)")
	}

	aux := c.AuxLayerIDs()
	auxKey := "eagle_aux_hidden_state_layer_ids"
	if c.DFlashFields() != nil {
		auxKey = "aux_hidden_state_layer_ids"
	}
	if aux != nil && !slices.IsSorted(aux) {
		r.add(Warning, auxKey, "%v is not in ascending order; the draft concatenates the hidden states in this order", aux)
	}
	if aux != nil && len(aux) != 3 && c.EagleFields() != nil {
		r.add(Warning, auxKey, "%d aux layers: several vLLM releases take the aux count from num_aux_hidden_states or eagle_config and otherwise assume 3, then fail loading fc with a shape mismatch (vLLM issue #54526, fix PR #54598); 3 aux layers are the most compatible", len(aux))
	}

	switch algo {
	case "eagle3", "peagle":
		switch l.ModelType {
		case "llama", "qwen3":
		case "":
			r.add(Error, lk+"model_type", "missing: vLLM picks Eagle3LlamaForCausalLM or Eagle3Qwen3ForCausalLM from it and rejects anything else")
		default:
			r.add(Error, lk+"model_type", "%q: vLLM's %s drafts support only llama and qwen3 layers", l.ModelType, algo)
		}
		if !c.Has("norm_before_residual") {
			def := "true"
			if algo == "peagle" {
				def = "false"
			}
			r.add(Error, "norm_before_residual", "missing: speculators reads it as false but vLLM as %s, so the two would run different models; write it explicitly", def)
		}
		if aux == nil {
			r.add(Warning, auxKey, "null: vLLM and speculators then use the verifier's default [2, N/2, N-3]; trained drafts write the ids they were trained with")
		}
		if algo == "peagle" && c.PEagle.MaskTokenID == nil {
			r.add(Error, "mask_token_id", "null or missing: vLLM requires an integer (it becomes pard_token)")
		}
	case "dflash", "dspark":
		d := c.DFlashFields()
		if l.ModelType != "qwen3" {
			r.add(Error, lk+"model_type", "%q: vLLM's %s draft is a Qwen3 decoder (model_type \"qwen3\")", l.ModelType, algo)
		}
		if aux == nil {
			r.add(Error, auxKey, "null or missing: vLLM requires the list of aux layer ids for %s", algo)
		}
		if d.MaskTokenID == nil {
			r.add(Error, "mask_token_id", "null or missing: vLLM requires an integer for %s", algo)
		}
		// §7.12: speculative_tokens follows block_size and sample_from_anchor.
		want := d.BlockSize - 1
		if d.SampleFromAnchor {
			want = d.BlockSize
		}
		if k := c.SpeculativeTokens(); k != want && len(sc.ProposalMethods) > 0 {
			r.add(Error, "speculators_config.proposal_methods[0].speculative_tokens", "%d, want %d (block_size %d, sample_from_anchor %v)", k, want, d.BlockSize, d.SampleFromAnchor)
		}
		if s := c.DSpark; s != nil && s.MarkovHeadType != "vanilla" && s.MarkovRank > 0 {
			r.add(Warning, "markov_head_type", "%q: vLLM's Qwen3 DSpark model only has the vanilla Markov head's tensors", s.MarkovHeadType)
		}
	case "mtp":
		r.add(Warning, "speculators_model_type", "mtp checkpoints cannot be served by vLLM directly; stitch them into the verifier and serve it with method \"mtp\"")
	}
}

// legacyAutoMap is what releases before the models/<algo>/config.py move wrote.
var legacyAutoMap = map[string]string{"eagle3": "eagle3.Eagle3SpeculatorConfig"}

// knownArchitectures are the top-level architectures writers produce (§1.2).
var knownArchitectures = map[string][]string{
	"eagle3": {"Eagle3DraftModel", "Eagle3Speculator"},
	"peagle": {"PEagleDraftModel", "PEagleSpeculator"},
	"dflash": {"DFlashDraftModel", "DFlashSpeculator"},
	"dspark": {"DSparkDraftModel", "DSparkSpeculator"},
	"mtp":    {"MTPDraftModel"},
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
