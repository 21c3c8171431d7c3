// Package eagle3 is the EAGLE-3 draft model of training-spec §5, forward and
// backward written by hand on the tensor compute core: aux-state fusion
// (input_norm or fc_norm, then fc), a first decoder layer that reads the
// token embedding and the hidden state side by side (2H inputs, hidden_norm,
// norm_before_residual), further llama or qwen3 layers, the final norm and a
// frozen lm_head restricted to the draft vocabulary, run for several
// training-time-test (TTT) steps over one packed sequence with the document,
// causal, sliding-window and TTT-diagonal mask of §5.4.
//
// Training: New or Load builds a Model; SetVerifierWeights (or
// LoadVerifierWeights) copies the frozen embedding, lm_head rows and final
// norm from the verifier; a Workspace holds every activation of one step so
// the step loop allocates nothing; Forward returns the loss and the §5.6
// metrics and, when asked, prepares the gradients that Backward accumulates
// into Params (the optimizer's view, with decay flags and Muon shapes).
// Save writes config.json and model.safetensors as the Python writer does.
//
// Inference: a Drafter keeps a KV cache and drafts one token at a time from
// the verifier's aux hidden states or from its own previous hidden state,
// with Truncate to drop rejected positions.
package eagle3
