package tensor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Losses over a vocabulary between draft logits and target logits
// (training-spec §5.5), each with its closed-form gradient with respect to the
// draft logits. The target gets no gradient. With q = softmax(draft logits)
// and p = softmax(target logits), per row:
//
//	kl_div     Σ p (log p − log q)                         ∂/∂z = q − p
//	rkl        Σ q (log q − log p)                         ∂/∂z = q ⊙ (g − Σ q g), g = log q − log p
//	jsd        ½ KL(p‖m) + ½ KL(q‖m), m = (p+q)/2          g = ½ (log q − log m)
//	ce         −log q[argmax p]                            ∂/∂z = q − onehot
//	tv         1 − Σ min(p, q)                             g = −[q < p] (½ on ties, as torch.minimum)
//	nla        −log max(Σ min(p, q), 1e-5)                 g = −[q < p] / α (0 when clamped)
//	lk_hybrid  λ·KL + (1−λ)·TV, λ = exp(−η·α), α constant
//
// where for rkl, jsd, tv and nla ∂/∂z_i = q_i (g_i − Σ_j q_j g_j), the
// softmax Jacobian applied to g = ∂ℓ/∂q.

// LossKind names a per-position loss.
type LossKind int

const (
	LossKL LossKind = iota
	LossRKL
	LossJSD
	LossCE
	LossTV
	LossNLA
	LossLKHybrid
)

var lossNames = [...]string{"kl_div", "rkl", "jsd", "ce", "tv", "nla", "lk_hybrid"}

func (k LossKind) String() string {
	if k >= 0 && int(k) < len(lossNames) {
		return lossNames[k]
	}
	return fmt.Sprintf("LossKind(%d)", int(k))
}

// ParseLossKind maps a --loss-fn name (kl_div, rkl, jsd, ce, tv, nla, lk_hybrid) to its kind.
func ParseLossKind(name string) (LossKind, error) {
	for i, n := range lossNames {
		if n == name {
			return LossKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown loss function %q (want one of %v)", name, lossNames)
}

// LossTerm is one weighted term of a --loss-fn configuration.
type LossTerm struct {
	Kind   LossKind
	Weight float32
}

// ParseLossSpec reads a --loss-fn value: a loss name ("kl_div") or a JSON
// object of names to weights ('{"ce": 0.1, "tv": 0.9}'), whose result is the
// weighted sum, weights not normalised (training-spec §5.5). Terms keep the
// order of the object.
func ParseLossSpec(spec string) ([]LossTerm, error) {
	if k, err := ParseLossKind(spec); err == nil {
		return []LossTerm{{Kind: k, Weight: 1}}, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(spec)))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, fmt.Errorf("loss function %q: want one of %v or a JSON object of weights like {\"ce\": 0.1, \"tv\": 0.9}", spec, lossNames)
	}
	var terms []LossTerm
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("loss config %q: %w", spec, err)
		}
		name, _ := tok.(string)
		k, err := ParseLossKind(name)
		if err != nil {
			return nil, fmt.Errorf("loss config %q: %w", spec, err)
		}
		var w float64
		if err := dec.Decode(&w); err != nil {
			return nil, fmt.Errorf("loss config %q: weight of %s must be a number", spec, name)
		}
		dup := false
		for i := range terms {
			if terms[i].Kind == k { // as Python's json.loads: the last value wins, in the first one's place
				terms[i].Weight, dup = float32(w), true
			}
		}
		if !dup {
			terms = append(terms, LossTerm{Kind: k, Weight: float32(w)})
		}
	}
	if _, err := dec.Token(); err != nil || len(terms) == 0 || dec.More() {
		return nil, fmt.Errorf("loss config %q: want a non-empty JSON object of weights", spec)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("loss config %q: trailing data", spec)
	}
	return terms, nil
}

// LKHybridEta is the default η of lk_hybrid.
const LKHybridEta = 3.0

// lossEps is the 1e-5 of the masked-mean denominator and of nla's clamp.
const lossEps = 1e-5

// VocabLoss computes loss[t] for each of the T rows of draft logits against
// target logits and, when dlogits is not nil, accumulates
// gscale[t]·∂loss[t]/∂logits into dlogits. eta is lk_hybrid's η.
// logits, targets, dlogits (T, V); loss, gscale (T).
func VocabLoss(kind LossKind, loss, dlogits, logits, targets, gscale []float32, t, v int, eta float32) {
	if kind < 0 || int(kind) >= len(lossNames) {
		panic("tensor: bad loss kind")
	}
	ParallelFor(t, rowGrain(v), func(lo, hi int) {
		sb := getScratch(3 * v)
		defer putScratch(sb)
		for i := lo; i < hi; i++ {
			var dz []float32
			var gs float32
			if dlogits != nil {
				dz, gs = dlogits[i*v:(i+1)*v], gscale[i]
			}
			loss[i] = lossRow(kind, dz, gs, logits[i*v:(i+1)*v], targets[i*v:(i+1)*v], *sb, eta)
		}
	})
}

// lossRow computes one row; ws holds 3V floats of scratch.
func lossRow(kind LossKind, dz []float32, gs float32, z, tz, ws []float32, eta float32) float32 {
	v := len(z)
	q, p, g := ws[:v], ws[v:2*v], ws[2*v:3*v]
	zmax, sq := softmaxRow(q, z)
	lseq := zmax + logf(sq)
	if kind == LossCE {
		a := argmax(tz)
		l := lseq - z[a]
		if dz != nil {
			for j, qj := range q {
				dz[j] += gs * qj
			}
			dz[a] -= gs
		}
		return l
	}
	tmax, sp := softmaxRow(p, tz)
	lsep := tmax + logf(sp)
	var l float32
	switch kind {
	case LossKL:
		l = klRow(p, z, tz, lseq, lsep)
		if dz != nil {
			for j := range dz {
				dz[j] += gs * (q[j] - p[j])
			}
		}
		return l
	case LossRKL:
		for j := range q {
			g[j] = (z[j] - lseq) - (tz[j] - lsep)
			l += q[j] * g[j]
		}
	case LossJSD:
		var lp, lq float32
		for j := range q {
			a, b := float64(z[j]-lseq), float64(tz[j]-lsep) // log q, log p
			lm := float32(max(a, b) + math.Log1p(math.Exp(-math.Abs(a-b))) - math.Ln2)
			if p[j] > 0 {
				lp += p[j] * (float32(b) - lm)
			}
			if q[j] > 0 {
				lq += q[j] * (float32(a) - lm)
			}
			g[j] = 0.5 * (float32(a) - lm)
		}
		l = 0.5*lp + 0.5*lq
	case LossTV, LossNLA, LossLKHybrid:
		alpha := overlapGrad(q, p, g)
		switch kind {
		case LossTV:
			l = 1 - alpha
		case LossNLA:
			if alpha >= lossEps {
				l = -logf(alpha)
				inv := 1 / alpha
				for j := range g {
					g[j] *= inv
				}
			} else {
				l = -logf(lossEps)
				clear(g)
			}
		case LossLKHybrid:
			w := expf(-eta * alpha)
			kl := klRow(p, z, tz, lseq, lsep)
			l = w*kl + (1-w)*(1-alpha)
			if dz != nil {
				// w·(q − p) from KL plus (1−w)·softmax-Jacobian·g from TV.
				gq := (1 - w) * dot(q, g)
				for j := range dz {
					dz[j] += gs * (w*(q[j]-p[j]) + q[j]*((1-w)*g[j]-gq))
				}
			}
			return l
		}
	}
	if dz != nil {
		gq := dot(q, g)
		for j := range dz {
			dz[j] += gs * q[j] * (g[j] - gq)
		}
	}
	return l
}

// klRow returns Σ p (log p − log q), with 0·log 0 = 0 as torch's kl_div.
func klRow(p, z, tz []float32, lseq, lsep float32) float32 {
	var l0, l1 float32
	j := 0
	for ; j+2 <= len(p); j += 2 {
		if p[j] > 0 {
			l0 += p[j] * ((tz[j] - lsep) - (z[j] - lseq))
		}
		if p[j+1] > 0 {
			l1 += p[j+1] * ((tz[j+1] - lsep) - (z[j+1] - lseq))
		}
	}
	if j < len(p) && p[j] > 0 {
		l0 += p[j] * ((tz[j] - lsep) - (z[j] - lseq))
	}
	return l0 + l1
}

// overlapGrad returns α = Σ min(p, q) and writes g = −∂α/∂q.
func overlapGrad(q, p, g []float32) float32 {
	var a float32
	for j, qj := range q {
		pj := p[j]
		switch {
		case qj < pj:
			a += qj
			g[j] = -1
		case qj == pj:
			a += qj
			g[j] = -0.5
		default:
			a += pj
			g[j] = 0
		}
	}
	return a
}

// argmax returns the index of the first largest element, as torch.argmax.
func argmax(x []float32) int {
	best := 0
	for j, v := range x {
		if v > x[best] {
			best = j
		}
	}
	return best
}

// MaskedLoss returns weight·Σ_t ℓ_t·m_t / (Σ_t m_t + 1e-5), the reduction of
// one TTT step (training-spec §5.5), and when dlogits is not nil accumulates
// its gradient. ws is scratch of length 2T.
// logits, targets, dlogits (T, V); mask (T) of 0/1.
func MaskedLoss(kind LossKind, dlogits, logits, targets, mask []float32, weight float32, t, v int, eta float32, ws []float32) float32 {
	loss, gscale := ws[:t], ws[t:2*t]
	var msum float32
	for _, m := range mask[:t] {
		msum += m
	}
	den := msum + lossEps
	for i, m := range mask[:t] {
		gscale[i] = weight * m / den
	}
	VocabLoss(kind, loss, dlogits, logits, targets, gscale, t, v, eta)
	var s float32
	for i, l := range loss {
		s += l * mask[i]
	}
	return weight * s / den
}

// CrossEntropy computes loss[t] = −log softmax(logits[t])[labels[t]] and,
// when dlogits is not nil, accumulates gscale[t]·(softmax − onehot). Rows with
// a negative label are ignored (loss 0, no gradient), like ignore_index.
// Labels must be < V (programmer error otherwise).
// logits, dlogits (T, V); labels, loss, gscale (T).
func CrossEntropy(loss, dlogits, logits []float32, labels []int32, gscale []float32, t, v int) {
	ParallelFor(t, rowGrain(v), func(lo, hi int) {
		sb := getScratch(v)
		defer putScratch(sb)
		e := *sb
		for i := lo; i < hi; i++ {
			y := int(labels[i])
			if y < 0 {
				loss[i] = 0
				continue
			}
			z := logits[i*v : (i+1)*v]
			if dlogits == nil {
				loss[i] = logSumExp(z, e) - z[y]
				continue
			}
			zmax := maxOf(z)
			s := expAffine(e, z, 1, -zmax) // e = exp(z − max), one exp per element
			loss[i] = zmax + logf(s) - z[y]
			gs := gscale[i]
			c := gs / s // softmax normalisation folded into the gradient scale
			dz := dlogits[i*v : (i+1)*v]
			for j, ej := range e {
				dz[j] += c * ej
			}
			dz[y] -= gs
		}
	})
}

// VocabLossRef is the plain reference for VocabLoss in float64, written from
// the definitions (no fused tricks): it returns the losses and the gradients
// ∂loss[t]/∂logits (T, V) for unit gscale.
func VocabLossRef(kind LossKind, logits, targets []float32, t, v int, eta float64) (loss []float64, grad []float64) {
	loss = make([]float64, t)
	grad = make([]float64, t*v)
	for i := 0; i < t; i++ {
		lq := logSoftmax64(logits[i*v : (i+1)*v])
		lp := logSoftmax64(targets[i*v : (i+1)*v])
		q, p := make([]float64, v), make([]float64, v)
		for j := range q {
			q[j], p[j] = math.Exp(lq[j]), math.Exp(lp[j])
		}
		kl := 0.0
		for j := range p {
			kl += p[j] * (lp[j] - lq[j])
		}
		alpha := 0.0
		dAlpha := make([]float64, v) // ∂α/∂q
		for j := range p {
			alpha += math.Min(p[j], q[j])
			switch {
			case q[j] < p[j]:
				dAlpha[j] = 1
			case q[j] == p[j]:
				dAlpha[j] = 0.5
			}
		}
		dq := make([]float64, v) // ∂ℓ/∂q, then through the softmax
		gz := grad[i*v : (i+1)*v]
		viaQ := true
		switch kind {
		case LossKL:
			loss[i] = kl
			for j := range gz {
				gz[j] = q[j] - p[j]
			}
			viaQ = false
		case LossRKL:
			for j := range q {
				loss[i] += q[j] * (lq[j] - lp[j])
				dq[j] = lq[j] - lp[j] + 1
			}
		case LossJSD:
			for j := range q {
				m := (p[j] + q[j]) / 2
				lm := math.Log(m)
				loss[i] += 0.5*p[j]*(lp[j]-lm) + 0.5*q[j]*(lq[j]-lm)
				dq[j] = 0.5 * (-p[j]/(2*m) + lq[j] + 1 - lm - q[j]/(2*m))
			}
		case LossCE:
			a := argmax(targets[i*v : (i+1)*v])
			loss[i] = -lq[a]
			for j := range gz {
				gz[j] = q[j]
			}
			gz[a]--
			viaQ = false
		case LossTV:
			loss[i] = 1 - alpha
			for j := range dq {
				dq[j] = -dAlpha[j]
			}
		case LossNLA:
			if alpha >= lossEps {
				loss[i] = -math.Log(alpha)
				for j := range dq {
					dq[j] = -dAlpha[j] / alpha
				}
			} else {
				loss[i] = -math.Log(lossEps)
			}
		case LossLKHybrid:
			w := math.Exp(-eta * alpha)
			loss[i] = w*kl + (1-w)*(1-alpha)
			// KL part in closed form, TV part through the softmax below.
			for j := range dq {
				dq[j] = -(1 - w) * dAlpha[j]
			}
			var s float64
			for j := range q {
				s += q[j] * dq[j]
			}
			for j := range gz {
				gz[j] = w*(q[j]-p[j]) + q[j]*(dq[j]-s)
			}
			viaQ = false
		}
		if viaQ {
			var s float64
			for j := range q {
				s += q[j] * dq[j]
			}
			for j := range gz {
				gz[j] = q[j] * (dq[j] - s)
			}
		}
	}
	return loss, grad
}

func logSoftmax64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(s)
	out := make([]float64, len(x))
	for j, v := range x {
		out[j] = float64(v) - lse
	}
	return out
}
