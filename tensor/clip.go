package tensor

import "math"

// ClipGradNorm scales all gradients in place so that their global L2 norm is
// at most maxNorm, with torch.nn.utils.clip_grad_norm_ semantics: the
// coefficient is min(1, maxNorm/(total + 1e-6)) and is always applied. It
// returns the total norm before clipping.
func ClipGradNorm(grads [][]float32, maxNorm float32) float32 {
	total, coef := ClipCoef(grads, maxNorm)
	for _, g := range grads {
		ParallelFor(len(g), 16384, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				g[i] *= coef
			}
		})
	}
	return total
}

// ClipCoef returns the global L2 norm of the gradients and the coefficient
// ClipGradNorm would scale them by, without touching them, so an optimizer
// can apply it on the fly (AdamW.StepScaled) and save a pass over memory.
func ClipCoef(grads [][]float32, maxNorm float32) (total, coef float32) {
	var ss float64
	for _, g := range grads {
		ss += sumSquares(g)
	}
	total = float32(math.Sqrt(ss))
	coef = maxNorm / (total + 1e-6)
	if coef > 1 {
		coef = 1
	}
	return total, coef
}

// sumSquares returns Σ x² of one tensor in float64, per-chunk partial sums
// reduced in order so the result does not depend on scheduling.
func sumSquares(x []float32) float64 {
	const maxChunks = 64
	var parts [maxChunks]float64
	chunks := min(Chunks(len(x), 16384), maxChunks)
	ParallelChunks(len(x), chunks, func(c, lo, hi int) {
		var s float64
		// float32 partial sums over short blocks, accumulated in float64.
		const blk = 2048
		i := lo
		if useVecOptim {
			for ; i+blk <= hi; i += blk {
				s += float64(sumSquaresAVX2(&x[i], blk))
			}
		}
		for _, v := range x[i:hi] {
			s += float64(v) * float64(v)
		}
		parts[c] = s
	})
	var s float64
	for _, p := range parts[:chunks] {
		s += p
	}
	return s
}
