// Package sample turns logits into tokens: greedy, temperature, top-k and
// top-p (nucleus) sampling with a seeded, reproducible random source, in
// the order and with the tie rules of Hugging Face's logits warpers
// (temperature, then top-k keeping every token tied with the k-th, then
// top-p keeping the smallest set of most likely tokens whose mass reaches p).
//
// Probs exposes the exact distribution a Sampler draws from, which the
// speculative decoder needs for lossless rejection sampling: accept a draft
// token with probability min(1, p/q), else draw from max(0, p−q).
package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/speculators-go/speculators/tensor"
)

// Params are the sampling settings. The zero value is greedy decoding.
type Params struct {
	Temperature float64 // 0 means greedy (argmax)
	TopK        int     // 0 means no top-k filter
	TopP        float64 // 0 or 1 means no top-p filter
	Seed        uint64
}

// Greedy reports whether p picks the argmax.
func (p Params) Greedy() bool { return p.Temperature == 0 }

// Validate checks the ranges of the settings.
func (p Params) Validate() error {
	switch {
	case p.Temperature < 0 || math.IsNaN(p.Temperature) || math.IsInf(p.Temperature, 0):
		return fmt.Errorf("sample: temperature must be ≥ 0, got %g", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("sample: top-k must be ≥ 0, got %d", p.TopK)
	case !(p.TopP >= 0 && p.TopP <= 1):
		return fmt.Errorf("sample: top-p must be in [0, 1], got %g", p.TopP)
	}
	return nil
}

// Sampler draws tokens. It keeps its scratch buffers, so sampling a token
// allocates nothing after the first call. Not safe for concurrent use.
type Sampler struct {
	p    Params
	rng  *rand.Rand
	sel  []float32 // top-k selection scratch
	buf  []float32 // Sample's distribution
	cand []candT   // top-p candidates
}

// New returns a Sampler seeded with p.Seed.
func New(p Params) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))}, nil
}

// Params returns the settings of s.
func (s *Sampler) Params() Params { return s.p }

// Float64 returns a uniform number in [0, 1) from the sampler's stream (the
// acceptance test of rejection sampling uses it, so one seed fixes a run).
func (s *Sampler) Float64() float64 { return s.rng.Float64() }

// Argmax returns the index of the largest value (the first on ties), or −1
// for an empty slice. NaNs are never chosen over numbers.
func Argmax(x []float32) int {
	best := -1
	bv := float32(math.Inf(-1))
	for i, v := range x {
		if v > bv || best < 0 && v == bv {
			best, bv = i, v
		}
	}
	return best
}

// Probs writes into dst (length len(logits)) the distribution s samples
// from: softmax(logits/T) restricted to the top-k and then the top-p set
// and renormalised, zero elsewhere. Greedy settings give a one-hot vector at
// the argmax.
func (s *Sampler) Probs(dst, logits []float32) {
	v := len(logits)
	dst = dst[:v]
	if s.p.Greedy() {
		clear(dst)
		if a := Argmax(logits); a >= 0 {
			dst[a] = 1
		}
		return
	}
	inv := float32(1 / s.p.Temperature)
	for i, x := range logits {
		dst[i] = x * inv
	}
	if k := s.p.TopK; k > 0 && k < v {
		kth := s.kthLargest(dst, k)
		ninf := float32(math.Inf(-1))
		for i, x := range dst {
			if x < kth {
				dst[i] = ninf
			}
		}
	}
	tensor.SoftmaxForward(dst, dst, 1, v)
	if tp := s.p.TopP; tp > 0 && tp < 1 {
		s.nucleus(dst, tp)
	}
}

// kthLargest returns the k-th largest value of x (1 ≤ k < len(x)).
func (s *Sampler) kthLargest(x []float32, k int) float32 {
	if cap(s.sel) < len(x) {
		s.sel = make([]float32, len(x))
	}
	c := s.sel[:len(x)]
	copy(c, x)
	// Quickselect for the (k−1)-th position in descending order.
	lo, hi, want := 0, len(c)-1, k-1
	for lo < hi {
		p := c[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for c[i] > p {
				i++
			}
			for c[j] < p {
				j--
			}
			if i <= j {
				c[i], c[j] = c[j], c[i]
				i++
				j--
			}
		}
		switch {
		case want <= j:
			hi = j
		case want >= i:
			lo = i
		default:
			return c[want]
		}
	}
	return c[want]
}

// nucleus zeroes every token outside the top-p set of the normalised p and
// renormalises. A token is kept when the mass of the tokens ranked above
// it is below tp (transformers' TopPLogitsWarper, which always keeps the
// most likely token). Only the tokens above a threshold whose mass already
// reaches tp are sorted, since no token below it can be in the set.
func (s *Sampler) nucleus(p []float32, tp float64) {
	tau := float32(0)
	for _, x := range p {
		tau = max(tau, x)
	}
	tau /= 16
	var cand []candT
	for {
		cand = s.cand[:0]
		var mass float64
		for i, x := range p {
			if x >= tau {
				cand = append(cand, candT{x, int32(i)})
				mass += float64(x)
			}
		}
		s.cand = cand
		if mass >= tp || tau == 0 {
			break
		}
		tau /= 16
		if tau < 1e-30 {
			tau = 0
		}
	}
	slices.SortFunc(cand, func(a, b candT) int {
		switch {
		case a.p > b.p:
			return -1
		case a.p < b.p:
			return 1
		}
		return int(a.i - b.i)
	})
	var before, kept float64 // mass ranked above the current token; mass kept
	n := 0
	for _, c := range cand {
		if before >= tp && n > 0 {
			break
		}
		before += float64(c.p)
		n++
	}
	keep := cand[:n]
	for _, c := range keep {
		kept += float64(c.p)
	}
	clear(p)
	inv := float32(1 / kept)
	for _, c := range keep {
		p[c.i] = c.p * inv
	}
}

// candT is a top-p candidate: probability and token id, sorted together
// for locality.
type candT struct {
	p float32
	i int32
}

// Sample draws a token from logits with the sampler's settings.
func (s *Sampler) Sample(logits []float32) int {
	if s.p.Greedy() {
		return Argmax(logits)
	}
	if cap(s.buf) < len(logits) {
		s.buf = make([]float32, len(logits))
	}
	buf := s.buf[:len(logits)]
	s.Probs(buf, logits)
	return s.Draw(buf)
}

// Draw samples an index with probability proportional to p[i] (p need not
// be normalised; negative and NaN entries count as 0). It walks the indices
// in order, so a seed gives the same token on every machine. An all-zero p
// gives the argmax of p.
func (s *Sampler) Draw(p []float32) int {
	var total float64
	for _, x := range p {
		if x > 0 {
			total += float64(x)
		}
	}
	if !(total > 0) {
		return Argmax(p)
	}
	u := s.rng.Float64() * total
	var acc float64
	last := -1
	for i, x := range p {
		if x > 0 {
			acc += float64(x)
			last = i
			if u < acc {
				return i
			}
		}
	}
	return last
}
