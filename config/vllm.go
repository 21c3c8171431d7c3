package config

import "fmt"

// VLLM is what vLLM derives from a speculators config when it serves the
// checkpoint (format-spec §6.1-6.2, §7.15-17), for the newest vLLM revisions
// the spec describes.
type VLLM struct {
	// Method is the speculative method: eagle3 (also for peagle), dflash or dspark.
	Method string
	// NumSpeculativeTokens is proposal_methods[0].speculative_tokens.
	NumSpeculativeTokens int
	// Model is the target model vLLM serves: verifier.name_or_path.
	Model string
	// ParallelDrafting is set for peagle.
	ParallelDrafting bool
	// Architecture is the draft model class vLLM builds.
	Architecture string
	// NormBeforeResidual is the value vLLM uses: the key's value, or true
	// (eagle3) / false (peagle) when the key is absent.
	NormBeforeResidual bool
	// AuxLayerIDs are the verifier layers captured (nil: vLLM's default).
	AuxLayerIDs []int
	// TargetLayerIDs are dflash_config.target_layer_ids, aux ids minus one
	// (dflash, dspark).
	TargetLayerIDs []int
	// Causal is dflash_config.causal = !sliding_window_non_causal (dflash).
	Causal bool
}

// VLLM maps the config the way vLLM's speculators parser does. mtp is not
// served from a speculators checkpoint (stitch it into the verifier), and
// eagle3/peagle layers other than llama and qwen3 are rejected.
func (c *Speculator) VLLM() (*VLLM, error) {
	v := &VLLM{NumSpeculativeTokens: c.SpeculativeTokens(), AuxLayerIDs: c.AuxLayerIDs()}
	if p := c.SpeculatorsConfig.Verifier.NameOrPath; p != nil {
		v.Model = *p
	}
	l := &c.TransformerLayerConfig
	switch algo := c.SpeculatorsModelType; algo {
	case "eagle3", "peagle":
		e := c.EagleFields()
		v.Method = "eagle3"
		v.NormBeforeResidual = e.NormBeforeResidual
		if !c.Has("norm_before_residual") {
			v.NormBeforeResidual = algo == "eagle3"
		}
		prefix := "Eagle3"
		if algo == "peagle" {
			v.ParallelDrafting = true
			prefix = "Peagle"
		}
		switch l.ModelType {
		case "llama":
			v.Architecture = prefix + "LlamaForCausalLM"
		case "qwen3":
			v.Architecture = prefix + "Qwen3ForCausalLM"
		default:
			return nil, fmt.Errorf("config: vLLM serves %s drafts with llama or qwen3 layers, not %q", algo, l.ModelType)
		}
	case "dflash", "dspark":
		d := c.DFlashFields()
		v.Method = algo
		v.Architecture = "DFlashDraftModel"
		if algo == "dspark" {
			v.Architecture = "Qwen3DSparkModel"
		}
		if d.AuxHiddenStateLayerIDs == nil {
			return nil, fmt.Errorf("config: vLLM requires aux_hidden_state_layer_ids for %s", algo)
		}
		for _, id := range d.AuxHiddenStateLayerIDs {
			v.TargetLayerIDs = append(v.TargetLayerIDs, id-1)
		}
		v.Causal = !d.SlidingWindowNonCausal
	case "mtp":
		return nil, fmt.Errorf("config: vLLM cannot serve an mtp speculators checkpoint directly; stitch it into the verifier and serve that with method \"mtp\"")
	default:
		return nil, fmt.Errorf("config: unknown algorithm %q", algo)
	}
	return v, nil
}
