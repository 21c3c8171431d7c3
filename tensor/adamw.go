package tensor

import "math"

// Param is one trainable tensor with its gradient and optimizer state.
type Param struct {
	Name  string
	W, G  []float32 // weights and gradient, same length
	M, V  []float32 // AdamW first and second moments, or Muon momentum in M; allocated on first use
	Decay bool      // apply weight decay to this tensor
	Rows  int       // rows of the 2-D weight (Muon); 0 for vectors
}

// AdamW is torch.optim.AdamW (decoupled weight decay, amsgrad off), with the
// update in the same order and float32 rounding as PyTorch's single-tensor path:
//
//	w ← w·(1 − lr·wd)                 (only tensors with Decay)
//	m ← m·β1 + g·(1 − β1)
//	v ← v·β2 + g·g·(1 − β2)
//	w ← w − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps)
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	StepCount                          int
}

// NewAdamW returns AdamW with PyTorch's defaults for betas and eps.
func NewAdamW(lr, weightDecay float64) *AdamW {
	return &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// adamwScalars is the per-tensor constants of one step, laid out for the
// vector kernel.
type adamwScalars struct {
	gscale, b1, c1, b2, c2, bc2Sqrt, eps, decay, negStep float32
}

// Step applies one update to every parameter (the step counter is shared, as
// PyTorch's per-parameter counters are when all parameters step together).
func (o *AdamW) Step(params []*Param) { o.StepScaled(params, 1) }

// StepScaled is Step on gradients multiplied by gscale, read without
// modifying G: ClipGradNorm's scaling fused into the update (see ClipCoef).
func (o *AdamW) StepScaled(params []*Param, gscale float32) {
	o.StepCount++
	t := float64(o.StepCount)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	for _, p := range params {
		if p.M == nil {
			p.M = make([]float32, len(p.W))
			p.V = make([]float32, len(p.W))
		}
		k := adamwScalars{gscale: gscale, b1: float32(o.Beta1), c1: float32(1 - o.Beta1),
			b2: float32(o.Beta2), c2: float32(1 - o.Beta2), bc2Sqrt: float32(math.Sqrt(bc2)),
			eps: float32(o.Eps), decay: 1, negStep: -float32(o.LR / bc1)}
		if p.Decay {
			k.decay = float32(1 - o.LR*o.WeightDecay)
		}
		w, g, m, v := p.W, p.G[:len(p.W)], p.M[:len(p.W)], p.V[:len(p.W)]
		// Pieces are whole 8-lane groups; the last piece also takes the tail
		// (ParallelFor always calls fn at least once, with [0, 0) when len(w) < 8).
		ParallelFor(len(w)/8, 1024, func(lo, hi int) {
			lo, hi = lo*8, hi*8
			if hi == len(w)/8*8 {
				hi = len(w)
			}
			adamwRange(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], &k)
		})
	}
}

// adamwRange updates one contiguous range.
func adamwRange(w, g, m, v []float32, k *adamwScalars) {
	n := 0
	if useVecOptim && len(w) >= 8 {
		n = len(w) &^ 7
		adamwAVX2(&w[0], &g[0], &m[0], &v[0], n, k)
	}
	for i := n; i < len(w); i++ {
		gi := g[i] * k.gscale
		mi := m[i]*k.b1 + gi*k.c1
		vi := v[i]*k.b2 + k.c2*gi*gi
		m[i], v[i] = mi, vi
		den := float32(math.Sqrt(float64(vi)))/k.bc2Sqrt + k.eps
		w[i] = w[i]*k.decay + k.negStep*(mi/den)
	}
}

// adamWStepRef is the plain reference of one AdamW step in float64.
func adamWStepRef(o AdamW, step int, w, g, m, v []float64, decay bool) {
	t := float64(step)
	for i := range w {
		if decay {
			w[i] *= 1 - o.LR*o.WeightDecay
		}
		m[i] = m[i]*o.Beta1 + g[i]*(1-o.Beta1)
		v[i] = v[i]*o.Beta2 + g[i]*g[i]*(1-o.Beta2)
		mh := m[i] / (1 - math.Pow(o.Beta1, t))
		vh := v[i] / (1 - math.Pow(o.Beta2, t))
		w[i] -= o.LR * mh / (math.Sqrt(vh) + o.Eps)
	}
}
