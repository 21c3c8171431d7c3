package tensor

import "math"

// The SiLU-gated MLP of Llama: y = down(silu(gate(x)) ⊙ up(x)), no biases.

// SiLUGateForward computes h = silu(g) ⊙ u elementwise, silu(x) = x·σ(x).
// g, u, h (N·I).
func SiLUGateForward(h, g, u []float32) {
	if Chunks(len(h), 16384) <= 1 {
		siluGateRange(h, g, u, 0, len(h))
		return
	}
	ParallelFor(len(h), 16384, func(lo, hi int) { siluGateRange(h, g, u, lo, hi) })
}

func siluGateRange(h, g, u []float32, lo, hi int) {
	var e [256]float32
	for i0 := lo; i0 < hi; i0 += len(e) {
		i1 := min(i0+len(e), hi)
		expAffine(e[:i1-i0], g[i0:i1], -1, 0) // exp(−g)
		for i := i0; i < i1; i++ {
			h[i] = g[i] / (1 + e[i-i0]) * u[i]
		}
	}
}

// SiLUGateBackward accumulates dg += dh ⊙ u ⊙ silu'(g) and du += dh ⊙ silu(g),
// with silu'(x) = σ(x)·(1 + x·(1 − σ(x))). dg and du must not alias dh.
func SiLUGateBackward(dg, du, dh, g, u []float32) {
	ParallelFor(len(dh), 16384, func(lo, hi int) {
		var e [256]float32
		for i0 := lo; i0 < hi; i0 += len(e) {
			i1 := min(i0+len(e), hi)
			expAffine(e[:i1-i0], g[i0:i1], -1, 0) // exp(−g)
			for i := i0; i < i1; i++ {
				x := g[i]
				sg := 1 / (1 + e[i-i0])
				d := dh[i]
				du[i] += d * x * sg
				dg[i] += d * u[i] * sg * (1 + x*(1-sg))
			}
		}
	})
}

// MLPForward runs the gated MLP and saves what the backward needs.
// x (N, C); wg, wu (I, C); wd (C, I); g, u, h (N, I) saved; y (N, C).
func MLPForward(y, g, u, h, x, wg, wu, wd []float32, n, c, inter int) {
	LinearForward(g, x, wg, nil, n, c, inter)
	LinearForward(u, x, wu, nil, n, c, inter)
	SiLUGateForward(h[:n*inter], g[:n*inter], u[:n*inter])
	LinearForward(y, h, wd, nil, n, inter, c)
}

// MLPBackward accumulates dx, dwg, dwu and dwd. ws is scratch of length
// 3·N·I (dh, dg, du); dx may be nil.
// dy (N, C); x, dx (N, C); g, u, h (N, I); wg, wu, dwg, dwu (I, C); wd, dwd (C, I).
func MLPBackward(dx, dwg, dwu, dwd, dy, x, g, u, h, wg, wu, wd, ws []float32, n, c, inter int) {
	ni := n * inter
	dh, dg, du := ws[:ni], ws[ni:2*ni], ws[2*ni:3*ni]
	clear(ws[:3*ni])
	LinearBackward(dh, dwd, nil, dy, h, wd, n, inter, c)
	SiLUGateBackward(dg, du, dh, g[:ni], u[:ni])
	LinearBackward(dx, dwg, nil, dg, x, wg, n, c, inter)
	LinearBackward(dx, dwu, nil, du, x, wu, n, c, inter)
}

// SiLUGateForwardRef is the plain reference for SiLUGateForward (float64).
func SiLUGateForwardRef(h, g, u []float32) {
	for i := range h {
		x := float64(g[i])
		h[i] = float32(x / (1 + math.Exp(-x)) * float64(u[i]))
	}
}

// SiLUGateBackwardRef is the plain reference for SiLUGateBackward (float64).
func SiLUGateBackwardRef(dg, du, dh, g, u []float32) {
	for i := range dh {
		x := float64(g[i])
		sg := 1 / (1 + math.Exp(-x))
		du[i] += float32(float64(dh[i]) * x * sg)
		dg[i] += float32(float64(dh[i]) * float64(u[i]) * sg * (1 + x*(1-sg)))
	}
}
