// Package tensor holds the float32 compute core: GEMM and the kernels of
// training and inference (embedding, linear, RMSNorm, RoPE, attention,
// SiLU-gated MLP, softmax, losses, optimizers), each with a plain reference
// implementation and a fast one, Forward and Backward side by side.
//
// Matrices are row-major float32 slices with explicit leading dimensions.
// Shape legend: B batch, T tokens, H hidden, V vocab, NH heads, KVH key/value
// heads, HD head dim, I MLP intermediate size.
//
// Conventions of the kernels: Backward functions accumulate (+=) into every
// gradient buffer, as llm.c does, so callers zero them first and repeated
// uses of a weight (TTT steps) add up; RoPEBackward is the exception and
// works in place. Work is split over row ranges with ParallelFor on a small
// pool of goroutines; per-goroutine scratch comes from a pool, so a kernel
// call allocates at most its closure. Rows of exp, max, AdamW and sums of
// squares run in AVX2 assembly on amd64 (Go elsewhere and under -tags purego).
package tensor
