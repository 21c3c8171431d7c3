package config

import (
	"slices"
	"testing"
)

// TestVLLM checks the vLLM mapping vectors of format-spec §7.15-17.
func TestVLLM(t *testing.T) {
	mk := func(algo, layer string, edit func(c *Speculator)) *Speculator {
		c, err := New(algo)
		if err != nil {
			t.Fatal(err)
		}
		c.SpeculatorsConfig.Verifier.NameOrPath = strp("org/target")
		c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = 4
		c.TransformerLayerConfig.ModelType = layer
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name      string
		c         *Speculator
		method    string
		arch      string
		parallel  bool
		normBR    bool
		targetIDs []int
		causal    bool
	}{
		{"eagle3 llama", mk("eagle3", "llama", nil), "eagle3", "Eagle3LlamaForCausalLM", false, false, nil, false},
		{"eagle3 qwen3", mk("eagle3", "qwen3", func(c *Speculator) { c.Eagle3.NormBeforeResidual = true }), "eagle3", "Eagle3Qwen3ForCausalLM", false, true, nil, false},
		{"eagle3 norm_before_residual absent reads true", mk("eagle3", "llama", func(c *Speculator) { c.Omit("norm_before_residual") }), "eagle3", "Eagle3LlamaForCausalLM", false, true, nil, false},
		{"peagle absent reads false", mk("peagle", "qwen3", func(c *Speculator) { c.PEagle.NormBeforeResidual = true; c.Omit("norm_before_residual") }), "eagle3", "PeagleQwen3ForCausalLM", true, true, nil, false},
		{"dflash", mk("dflash", "qwen3", func(c *Speculator) { c.DFlash.AuxHiddenStateLayerIDs = []int{2, 10, 18} }), "dflash", "DFlashDraftModel", false, false, []int{1, 9, 17}, true},
		{"dflash non-causal", mk("dflash", "qwen3", func(c *Speculator) {
			c.DFlash.AuxHiddenStateLayerIDs = []int{2, 10, 18}
			c.DFlash.SlidingWindowNonCausal = true
		}), "dflash", "DFlashDraftModel", false, false, []int{1, 9, 17}, false},
		{"dspark", mk("dspark", "qwen3", func(c *Speculator) { c.DSpark.AuxHiddenStateLayerIDs = []int{2, 14, 29} }), "dspark", "Qwen3DSparkModel", false, false, []int{1, 13, 28}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through the bytes, so "absent" means absent from the file.
			b := mustMarshal(t, tc.c)
			c, err := Parse(b, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.VLLM()
			if err != nil {
				t.Fatal(err)
			}
			if v.Method != tc.method || v.Architecture != tc.arch || v.ParallelDrafting != tc.parallel ||
				v.NumSpeculativeTokens != 4 || v.Model != "org/target" || !slices.Equal(v.TargetLayerIDs, tc.targetIDs) {
				t.Errorf("VLLM() = %+v", v)
			}
			if tc.method == "eagle3" && v.NormBeforeResidual != tc.normBR {
				t.Errorf("NormBeforeResidual = %v, want %v", v.NormBeforeResidual, tc.normBR)
			}
			if tc.targetIDs != nil && v.Causal != tc.causal {
				t.Errorf("Causal = %v, want %v", v.Causal, tc.causal)
			}
		})
	}
	for _, c := range []*Speculator{mk("mtp", "qwen3", nil), mk("eagle3", "mistral", nil), mk("dflash", "qwen3", nil)} {
		if _, err := c.VLLM(); err == nil {
			t.Errorf("%s/%s: VLLM() succeeded, want an error", c.SpeculatorsModelType, c.TransformerLayerConfig.ModelType)
		}
	}
}

// TestGreedySerialization is format-spec §7.3: the proposal New writes.
func TestGreedySerialization(t *testing.T) {
	c, _ := New("eagle3")
	c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = 7
	m, err := encodeObject(&c.SpeculatorsConfig.ProposalMethods[0])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := MarshalPython(m)
	want := "{\n  \"accept_tolerance\": 0.0,\n  \"proposal_type\": \"greedy\",\n  \"speculative_tokens\": 7,\n  \"verifier_accept_k\": 1\n}\n"
	if string(got) != want {
		t.Errorf("greedy proposal = %q, want %q", got, want)
	}
}
