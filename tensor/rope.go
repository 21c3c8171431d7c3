package tensor

import (
	"fmt"
	"math"
)

// Rotary position embeddings, Hugging Face "rotate-half" (NeoX) layout: the
// first rotDim/2 and second rotDim/2 dims of each head form the pairs, and
// dims past rotDim (partial rotary) pass through unchanged.

// RoPEScaling mirrors the rope_scaling (transformers ≥ 5: rope_parameters)
// object of a Hugging Face config. Pointer fields are optional keys.
type RoPEScaling struct {
	RopeType                      string   `json:"rope_type,omitempty"`
	Type                          string   `json:"type,omitempty"` // legacy spelling of rope_type
	Factor                        float64  `json:"factor,omitempty"`
	LowFreqFactor                 float64  `json:"low_freq_factor,omitempty"`
	HighFreqFactor                float64  `json:"high_freq_factor,omitempty"`
	OriginalMaxPositionEmbeddings int      `json:"original_max_position_embeddings,omitempty"`
	AttentionFactor               *float64 `json:"attention_factor,omitempty"`
	BetaFast                      *float64 `json:"beta_fast,omitempty"`
	BetaSlow                      *float64 `json:"beta_slow,omitempty"`
	Mscale                        *float64 `json:"mscale,omitempty"`
	MscaleAllDim                  *float64 `json:"mscale_all_dim,omitempty"`
	Truncate                      *bool    `json:"truncate,omitempty"`
}

// RoPEConfig holds the config.json fields that determine the rotary tables.
type RoPEConfig struct {
	Theta                 float64      // rope_theta, e.g. 10000 or 500000
	HeadDim               int          // head_dim
	PartialRotaryFactor   float64      // partial_rotary_factor; 0 means 1
	MaxPositionEmbeddings int          // max_position_embeddings (yarn)
	Scaling               *RoPEScaling // rope_scaling; nil means default
}

// RotaryDim is the number of rotated dims per head: int(head_dim·partial_rotary_factor).
func (c RoPEConfig) RotaryDim() int {
	f := c.PartialRotaryFactor
	if f == 0 {
		f = 1
	}
	return int(float64(c.HeadDim) * f)
}

// RoPEInvFreq computes the inverse frequencies (rotDim/2) and the attention
// scaling that multiplies cos and sin, exactly as transformers'
// _compute_{default,linear,llama3,yarn}_parameters do, in float32 where
// they compute on float32 tensors.
func RoPEInvFreq(c RoPEConfig) (invFreq []float32, attnScale float32, err error) {
	dim := c.RotaryDim()
	if c.Theta <= 0 || dim <= 0 || dim%2 != 0 || dim > c.HeadDim {
		return nil, 0, fmt.Errorf("rope: bad config (rope_theta %g, head_dim %d, rotary dim %d)", c.Theta, c.HeadDim, dim)
	}
	typ := "default"
	if s := c.Scaling; s != nil {
		if s.RopeType != "" {
			typ = s.RopeType
		} else if s.Type != "" {
			typ = s.Type
		}
	}
	// base ** (arange(0, dim, 2) / dim), in float32.
	posFreq := make([]float32, dim/2)
	for i := range posFreq {
		e := float32(2*i) / float32(dim)
		posFreq[i] = float32(math.Pow(c.Theta, float64(e)))
	}
	inv := make([]float32, dim/2)
	for i, p := range posFreq {
		inv[i] = 1 / p
	}
	s := c.Scaling
	switch typ {
	case "default":
		return inv, 1, nil
	case "linear":
		if s.Factor <= 0 {
			return nil, 0, fmt.Errorf("rope: linear scaling needs factor > 0, got %g", s.Factor)
		}
		f := float32(s.Factor)
		for i := range inv {
			inv[i] /= f
		}
		return inv, 1, nil
	case "llama3":
		if s.Factor <= 0 || s.OriginalMaxPositionEmbeddings <= 0 || s.HighFreqFactor == s.LowFreqFactor {
			return nil, 0, fmt.Errorf("rope: llama3 scaling needs factor, low/high_freq_factor and original_max_position_embeddings")
		}
		factor := float32(s.Factor)
		lowF, highF := float32(s.LowFreqFactor), float32(s.HighFreqFactor)
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWL, highWL := float32(old/s.LowFreqFactor), float32(old/s.HighFreqFactor)
		twoPi := float32(2 * math.Pi)
		for i, f := range inv {
			wl := twoPi / f
			il := f
			if wl > lowWL {
				il = f / factor
			}
			if !(wl < highWL) && !(wl > lowWL) {
				sm := (float32(old)/wl - lowF) / (highF - lowF)
				il = (1-sm)*il/factor + sm*il
			}
			inv[i] = il
		}
		return inv, 1, nil
	case "yarn":
		if s.Factor <= 0 {
			return nil, 0, fmt.Errorf("rope: yarn scaling needs factor > 0, got %g", s.Factor)
		}
		factor := s.Factor
		origMax := float64(c.MaxPositionEmbeddings)
		if s.OriginalMaxPositionEmbeddings > 0 {
			// As transformers: models that enlarge max_position_embeddings carry
			// the pretraining value here, and the ratio replaces factor.
			origMax = float64(s.OriginalMaxPositionEmbeddings)
			factor = float64(c.MaxPositionEmbeddings) / origMax
		}
		if origMax <= 0 {
			return nil, 0, fmt.Errorf("rope: yarn scaling needs max_position_embeddings")
		}
		getMscale := func(scale, m float64) float64 {
			if scale <= 1 {
				return 1
			}
			return 0.1*m*math.Log(scale) + 1
		}
		var af float64
		switch {
		case s.AttentionFactor != nil:
			af = *s.AttentionFactor
		case s.Mscale != nil && s.MscaleAllDim != nil && *s.Mscale != 0 && *s.MscaleAllDim != 0:
			af = getMscale(factor, *s.Mscale) / getMscale(factor, *s.MscaleAllDim)
		default:
			af = getMscale(factor, 1)
		}
		betaFast, betaSlow := 32.0, 1.0
		if s.BetaFast != nil && *s.BetaFast != 0 {
			betaFast = *s.BetaFast
		}
		if s.BetaSlow != nil && *s.BetaSlow != 0 {
			betaSlow = *s.BetaSlow
		}
		corrDim := func(rot float64) float64 {
			return float64(dim) * math.Log(origMax/(rot*2*math.Pi)) / (2 * math.Log(c.Theta))
		}
		low, high := corrDim(betaFast), corrDim(betaSlow)
		if s.Truncate == nil || *s.Truncate {
			low, high = math.Floor(low), math.Ceil(high)
		}
		low, high = math.Max(low, 0), math.Min(high, float64(dim-1))
		if low == high {
			high += 0.001
		}
		lo32, span := float32(low), float32(high-low)
		f32 := float32(factor)
		for i, p := range posFreq {
			ramp := (float32(i) - lo32) / span
			ramp = min(max(ramp, 0), 1)
			extra := 1 - ramp // inv_freq_extrapolation_factor
			interp := 1 / (f32 * p)
			inv[i] = interp*(1-extra) + inv[i]*extra
		}
		return inv, float32(af), nil
	}
	return nil, 0, fmt.Errorf("rope: unsupported rope_type %q (want default, linear, llama3 or yarn)", typ)
}

// RoPETables fills cos and sin (T, rotDim/2) for the given positions:
// angle = float32(pos)·invFreq in float32, then cos/sin times attnScale.
// HF stores cat(freqs, freqs); the two halves are equal, so we keep one.
func RoPETables(cos, sin []float32, pos []int32, invFreq []float32, attnScale float32) {
	h := len(invFreq)
	if Chunks(len(pos), rowGrain(4*h)) <= 1 {
		ropeTableRows(cos, sin, pos, invFreq, attnScale, 0, len(pos))
		return
	}
	ParallelFor(len(pos), rowGrain(4*h), func(lo, hi int) {
		ropeTableRows(cos, sin, pos, invFreq, attnScale, lo, hi)
	})
}

func ropeTableRows(cos, sin []float32, pos []int32, invFreq []float32, attnScale float32, lo, hi int) {
	h := len(invFreq)
	for t := lo; t < hi; t++ {
		p := float32(pos[t])
		for i, f := range invFreq {
			a := float64(p * f)
			cos[t*h+i] = float32(math.Cos(a)) * attnScale
			sin[t*h+i] = float32(math.Sin(a)) * attnScale
		}
	}
}

// RoPEForward rotates x in place: for each token t and head, with h = rotDim/2,
// x[i] ← x[i]·cos − x[i+h]·sin and x[i+h] ← x[i+h]·cos + x[i]·sin for i < h.
// x (T, NH, HD); cos, sin (T, rotDim/2).
func RoPEForward(x, cos, sin []float32, t, nh, hd, rotDim int) {
	if Chunks(t, rowGrain(nh*hd)) <= 1 {
		ropeRows(x, cos, sin, nh, hd, rotDim, 0, t)
		return
	}
	ParallelFor(t, rowGrain(nh*hd), func(lo, hi int) { ropeRows(x, cos, sin, nh, hd, rotDim, lo, hi) })
}

func ropeRows(x, cos, sin []float32, nh, hd, rotDim, lo, hi int) {
	h := rotDim / 2
	for ti := lo; ti < hi; ti++ {
		c, s := cos[ti*h:(ti+1)*h], sin[ti*h:(ti+1)*h]
		for hh := 0; hh < nh; hh++ {
			row := x[(ti*nh+hh)*hd : (ti*nh+hh)*hd+rotDim]
			x1, x2 := row[:h], row[h:rotDim]
			for i := range c {
				a, b := x1[i], x2[i]
				x1[i] = a*c[i] - b*s[i]
				x2[i] = b*c[i] + a*s[i]
			}
		}
	}
}

// RoPEBackward maps the gradient of the rotated tensor to the gradient of its
// input, in place (the transpose of the forward rotation):
// d[i] ← d[i]·cos + d[i+h]·sin, d[i+h] ← d[i+h]·cos − d[i]·sin.
// dx (T, NH, HD); cos, sin (T, rotDim/2).
func RoPEBackward(dx, cos, sin []float32, t, nh, hd, rotDim int) {
	h := rotDim / 2
	ParallelFor(t, rowGrain(nh*hd), func(lo, hi int) {
		for ti := lo; ti < hi; ti++ {
			c, s := cos[ti*h:(ti+1)*h], sin[ti*h:(ti+1)*h]
			for hh := 0; hh < nh; hh++ {
				row := dx[(ti*nh+hh)*hd : (ti*nh+hh)*hd+rotDim]
				d1, d2 := row[:h], row[h:rotDim]
				for i := range c {
					a, b := d1[i], d2[i]
					d1[i] = a*c[i] + b*s[i]
					d2[i] = b*c[i] - a*s[i]
				}
			}
		}
	})
}

// RoPEForwardRef is the plain reference for RoPEForward, written as HF does:
// out = x·cat(cos,cos) + rotate_half(x)·cat(sin,sin) on the first rotDim dims.
func RoPEForwardRef(x, cos, sin []float32, t, nh, hd, rotDim int) {
	h := rotDim / 2
	tmp := make([]float32, rotDim)
	for ti := 0; ti < t; ti++ {
		for hh := 0; hh < nh; hh++ {
			row := x[(ti*nh+hh)*hd:]
			for i := 0; i < rotDim; i++ {
				var rot float32 // rotate_half(x) = cat(−x2, x1)
				if i < h {
					rot = -row[i+h]
				} else {
					rot = row[i-h]
				}
				tmp[i] = row[i]*cos[ti*h+i%h] + rot*sin[ti*h+i%h]
			}
			copy(row[:rotDim], tmp)
		}
	}
}
