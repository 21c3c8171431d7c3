package tensor

import "math"

// Muon orthogonalises the momentum of each 2-D weight with a quintic
// Newton-Schulz iteration (Keller Jordan's Muon; torch.optim.Muon), here in
// float32 rather than bf16.

// Newton-Schulz coefficients of the reference Muon.
const (
	nsA = 3.4445
	nsB = -4.7750
	nsC = 2.0315
)

// NewtonSchulz writes into out (R, C) an approximate orthogonalisation of g
// (R, C): X = g/max(‖g‖_F, eps), transposed so that X has no more rows than
// columns, then steps× X ← a·X + (b·A + c·A·A)·X with A = X·Xᵀ.
// ws is scratch of length 2·R·C + 2·min(R,C)².
func NewtonSchulz(out, g []float32, rows, cols, steps int, eps float32, ws []float32) {
	n := rows * cols
	r, c := rows, cols
	trans := rows > cols
	if trans {
		r, c = cols, rows
	}
	x, xn := ws[:n], ws[n:2*n]
	a, b := ws[2*n:2*n+r*r], ws[2*n+r*r:2*n+2*r*r]
	norm := float32(math.Sqrt(sumSquares(g[:n])))
	inv := 1 / max(norm, eps)
	if trans {
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				x[j*rows+i] = g[i*cols+j] * inv
			}
		}
	} else {
		for i, v := range g[:n] {
			x[i] = v * inv
		}
	}
	for s := 0; s < steps; s++ {
		// A (r, r) = X·Xᵀ; B = b·A + c·A·A; X ← a·X + B·X
		Sgemm(false, true, r, r, c, 1, x, c, x, c, 0, a, r)
		copy(b, a)
		Sgemm(false, false, r, r, r, nsC, a, r, a, r, nsB, b, r)
		copy(xn, x)
		Sgemm(false, false, r, c, r, 1, b, r, x, c, nsA, xn, c)
		x, xn = xn, x
	}
	if trans {
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				out[i*cols+j] = x[j*rows+i]
			}
		}
	} else {
		copy(out[:n], x)
	}
}

// Muon is torch.optim.Muon for 2-D weights:
//
//	buf ← μ·buf + (1−μ)·g;  u ← nesterov ? (1−μ)·g + μ·buf : buf
//	w ← w·(1 − lr·wd) − lr_adj · NewtonSchulz(u)
//
// with lr_adj = 0.2·√max(R, C)·lr for AdjustLR "match_rms_adamw" (the
// speculators default) and lr·√max(1, R/C) for "original".
type Muon struct {
	LR, Momentum, WeightDecay float64
	Nesterov                  bool
	NSSteps                   int
	Eps                       float32
	AdjustLR                  string
}

// NewMuon returns Muon with torch.optim.Muon's defaults and speculators' lr adjustment.
func NewMuon(lr, weightDecay float64) *Muon {
	return &Muon{LR: lr, Momentum: 0.95, WeightDecay: weightDecay, Nesterov: true, NSSteps: 5, Eps: 1e-7, AdjustLR: "match_rms_adamw"}
}

// Step updates each parameter (each must have Rows set, Rows·cols = len(W)).
func (o *Muon) Step(params []*Param) {
	for _, p := range params {
		rows := p.Rows
		cols := len(p.W) / rows
		if p.M == nil {
			p.M = make([]float32, len(p.W))
		}
		mu := float32(o.Momentum)
		u := getScratch(len(p.W))
		for i, g := range p.G[:len(p.W)] {
			b := p.M[i] + (g-p.M[i])*(1-mu) // torch lerp_
			p.M[i] = b
			if o.Nesterov {
				(*u)[i] = g + (b-g)*mu
			} else {
				(*u)[i] = b
			}
		}
		r := min(rows, cols)
		ws := getScratch(2*len(p.W) + 2*r*r)
		NewtonSchulz(*u, *u, rows, cols, o.NSSteps, o.Eps, *ws)
		putScratch(ws)
		lr := o.LR
		if o.AdjustLR == "original" {
			lr *= math.Sqrt(math.Max(1, float64(rows)/float64(cols)))
		} else {
			lr *= 0.2 * math.Sqrt(float64(max(rows, cols)))
		}
		decay := float32(1 - o.LR*o.WeightDecay)
		alr := float32(lr)
		for i, v := range *u {
			p.W[i] = p.W[i]*decay - alr*v
		}
		putScratch(u)
	}
}
