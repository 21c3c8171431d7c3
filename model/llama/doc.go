// Package llama is the embedded verifier runtime: it loads dense
// Llama-family models (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM, Qwen3ForCausalLM) from a Hugging Face directory and runs
// them in float32 on the CPU with a key/value cache, matching transformers'
// modeling code: grouped-query attention, head_dim, attention biases (Qwen2),
// per-head q/k RMSNorm (Qwen3), tied embeddings, rope_scaling (linear,
// llama3, yarn) and sliding-window layers.
//
// A Model holds the weights and is read-only, so many States may share it.
// A State holds the key/value cache of a batch of sequences and the
// workspace of the forward pass; its methods are the cache's state
// transitions (Forward appends, Truncate rolls back). Forward captures
// hidden states with vLLM's layer-id semantics (format-spec §6.4): id k is
// the residual stream entering decoder layer k (transformers'
// hidden_states[k]) and id N, the layer count, is the final state before the
// last RMSNorm.
package llama
