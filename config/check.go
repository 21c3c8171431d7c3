package config

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// check applies the schema rules Python enforces when it loads a config
// (pydantic validators, format-spec §2-3). Consistency with the tensors and
// what vLLM needs are the validate package's job.
func (c *Speculator) check(raw map[string]json.RawMessage) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{key, fmt.Sprintf(format, args...)})
	}
	sc := &c.SpeculatorsConfig
	if !c.Has("speculators_config") {
		add("speculators_config", "missing")
	} else {
		if !sc.Has("algorithm") {
			add("speculators_config.algorithm", "missing")
		} else if c.SpeculatorsModelType != "" && sc.Algorithm != c.SpeculatorsModelType {
			add("speculators_config.algorithm", "%q does not match speculators_model_type %q", sc.Algorithm, c.SpeculatorsModelType)
		}
		if len(sc.ProposalMethods) == 0 {
			add("speculators_config.proposal_methods", "missing or empty: one greedy proposal is needed (vLLM reads speculative_tokens from the first)")
		}
		types := map[string]bool{}
		for i, p := range sc.ProposalMethods {
			key := "speculators_config.proposal_methods[" + strconv.Itoa(i) + "]"
			types[p.ProposalType] = true
			if p.ProposalType != "greedy" {
				add(key+".proposal_type", "%q is not a known proposal type (only greedy exists)", p.ProposalType)
			}
			if p.SpeculativeTokens < 1 {
				add(key+".speculative_tokens", "%d, must be at least 1", p.SpeculativeTokens)
			}
			if p.VerifierAcceptK < 1 {
				add(key+".verifier_accept_k", "%d, must be at least 1", p.VerifierAcceptK)
			}
			if f, err := p.AcceptTolerance.Float64(); err != nil || f < 0 || f != f {
				add(key+".accept_tolerance", "%s, must be a number >= 0", p.AcceptTolerance)
			}
		}
		if !sc.Has("default_proposal_method") {
			add("speculators_config.default_proposal_method", "missing")
		} else if len(sc.ProposalMethods) > 0 && !types[sc.DefaultProposalMethod] {
			add("speculators_config.default_proposal_method", "%q is not the proposal_type of any proposal method", sc.DefaultProposalMethod)
		}
		if !sc.Has("verifier") {
			add("speculators_config.verifier", "missing")
		} else {
			if !sc.Verifier.Has("name_or_path") {
				add("speculators_config.verifier.name_or_path", "missing (it may be null, but the key is required)")
			}
			if !sc.Verifier.Has("architectures") {
				add("speculators_config.verifier.architectures", "missing")
			} else if sc.Verifier.Architectures == nil {
				add("speculators_config.verifier.architectures", "is null, want a list of strings")
			}
		}
	}
	if !c.Has("transformer_layer_config") {
		add("transformer_layer_config", "missing: vLLM builds the draft's HF config from it")
	}
	checkIDs := func(key string, ids []int) {
		seen := map[int]bool{}
		for i, id := range ids {
			if id < 0 {
				add(fmt.Sprintf("%s[%d]", key, i), "%d is negative", id)
			}
			if seen[id] {
				add(fmt.Sprintf("%s[%d]", key, i), "layer %d listed twice", id)
			}
			seen[id] = true
		}
		if ids != nil && len(ids) == 0 {
			add(key, "an empty list: the draft needs at least one aux hidden state")
		}
	}
	if e := c.EagleFields(); e != nil {
		if e.NormBeforeFC && e.FCNorm {
			add("fc_norm", "norm_before_fc and fc_norm are both true; speculators allows at most one")
		}
		if e.DraftVocabSize < 1 {
			add("draft_vocab_size", "%d, must be at least 1", e.DraftVocabSize)
		}
		if e.TargetHiddenSize != nil && *e.TargetHiddenSize < 1 {
			add("target_hidden_size", "%d, must be at least 1 or null", *e.TargetHiddenSize)
		}
		checkIDs("eagle_aux_hidden_state_layer_ids", e.EagleAuxHiddenStateLayerIDs)
	}
	if d := c.DFlashFields(); d != nil {
		if d.DraftVocabSize < 1 {
			add("draft_vocab_size", "%d, must be at least 1", d.DraftVocabSize)
		}
		if d.BlockSize < 1 {
			add("block_size", "%d, must be at least 1", d.BlockSize)
		}
		if d.TargetHiddenSize != nil && *d.TargetHiddenSize < 1 {
			add("target_hidden_size", "%d, must be at least 1 or null", *d.TargetHiddenSize)
		}
		checkIDs("aux_hidden_state_layer_ids", d.AuxHiddenStateLayerIDs)
	}
	if s := c.DSpark; s != nil {
		if s.MarkovRank < 0 {
			add("markov_rank", "%d, must be >= 0", s.MarkovRank)
		}
		switch s.MarkovHeadType {
		case "vanilla", "gated", "rnn":
		default:
			add("markov_head_type", "%q, want vanilla, gated or rnn", s.MarkovHeadType)
		}
		if s.MarkovRank == 0 && s.ConfidenceHeadWithMarkov {
			add("confidence_head_with_markov", "true with markov_rank 0 (no Markov head)")
		}
	}
	if m := c.MTP; m != nil && m.NumNextnPredictLayers != 1 {
		add("num_nextn_predict_layers", "%d, speculators supports only 1", m.NumNextnPredictLayers)
	}
	return probs
}
