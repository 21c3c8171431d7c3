// Package tensor holds the float32 compute core: GEMM and the kernels of
// training and inference (embedding, linear, RMSNorm, RoPE, attention,
// SiLU-gated MLP, softmax, losses, optimizers), each with a plain reference
// implementation and a fast one, Forward and Backward side by side.
//
// Matrices are row-major float32 slices with explicit leading dimensions.
// Shape legend: B batch, T tokens, H hidden, V vocab, NH heads, KVH key/value
// heads, HD head dim, I MLP intermediate size.
package tensor
