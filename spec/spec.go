// Package spec runs speculative decoding with the embedded verifier: a
// Drafter proposes k tokens, the verifier scores them all in one forward
// pass, and exact-match (greedy) or rejection-sampling (temperature > 0)
// acceptance keeps the output distribution of the verifier alone. Both KV
// caches are rolled back past the first rejected token. Stats counts
// acceptance per draft position, as vLLM's spec-decode metrics do.
package spec

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
)

// Drafter proposes tokens for one sequence at a time. The engine tells it
// the verified tokens with Append and asks for k proposals with Draft;
// drafted positions are speculative: the next Append (or Reset) discards
// whatever Draft cached beyond the verified tokens.
type Drafter interface {
	// AuxLayers lists the verifier capture ids (llama.ForwardOptions.Capture)
	// whose hidden states Append needs; nil when it needs none.
	AuxLayers() []int
	// Reset starts a new sequence whose first token is first.
	Reset(first int32) error
	// Append extends the verified sequence with ids; row i of aux (A·H
	// values per row, A = len(AuxLayers())) is the verifier's captured
	// states at the position just before ids[i]. aux is nil when A = 0.
	Append(ids []int32, aux []float32) error
	// Draft proposes k tokens (verifier ids) after the verified sequence.
	// Each is drawn with smp from the drafter's distribution; when q is
	// non-nil, q[i] (verifier vocabulary) receives the distribution draft i
	// was drawn from. The returned slice is valid until the next call.
	Draft(k int, smp *sample.Sampler, q [][]float32) ([]int32, error)
}

// Options control Generate.
type Options struct {
	K         int           // speculative tokens per verifier pass (≥ 1)
	MaxTokens int           // new tokens at most
	Params    sample.Params // verifier sampling; the drafter samples with the same settings
	EOS       []int         // generation stops after any of these ids (it is returned)
}

// Stats counts the work and acceptance of one or more generations. The
// counters mirror vLLM's: every verifier pass after the prefill is a draft
// of exactly K tokens, so τ = 1 + Σ_i AcceptedAt[i]/Drafts and the mean
// acceptance rate is Accepted/DraftTokens = (τ−1)/K.
type Stats struct {
	K                 int
	PromptTokens      int
	NewTokens         int
	Drafts            int   // verifier passes over drafted tokens
	DraftTokens       int   // Drafts·K
	Accepted          int   // accepted draft tokens
	AcceptedAt        []int // (K) drafts whose position i was accepted
	Prefill, Decode   time.Duration
	DraftTime, Verify time.Duration // parts of Decode
}

// Add accumulates o into s (K must match or s be empty).
func (s *Stats) Add(o Stats) {
	if s.AcceptedAt == nil {
		s.K = o.K
		s.AcceptedAt = make([]int, len(o.AcceptedAt))
	}
	s.PromptTokens += o.PromptTokens
	s.NewTokens += o.NewTokens
	s.Drafts += o.Drafts
	s.DraftTokens += o.DraftTokens
	s.Accepted += o.Accepted
	for i := range o.AcceptedAt {
		s.AcceptedAt[i] += o.AcceptedAt[i]
	}
	s.Prefill += o.Prefill
	s.Decode += o.Decode
	s.DraftTime += o.DraftTime
	s.Verify += o.Verify
}

// PerPosition is the acceptance rate of each draft position: the share of
// drafts whose first i+1 tokens were all accepted.
func (s *Stats) PerPosition() []float64 {
	r := make([]float64, len(s.AcceptedAt))
	for i, a := range s.AcceptedAt {
		r[i] = ratio(float64(a), float64(s.Drafts))
	}
	return r
}

// Tau is the mean acceptance length: tokens produced per verifier pass
// (accepted drafts plus the bonus or corrected token).
func (s *Stats) Tau() float64 {
	if s.Drafts == 0 {
		return 0
	}
	return 1 + float64(s.Accepted)/float64(s.Drafts)
}

// AcceptanceRate is vLLM's "mean acceptance rate": accepted over drafted tokens.
func (s *Stats) AcceptanceRate() float64 { return ratio(float64(s.Accepted), float64(s.DraftTokens)) }

// TokensPerSecond is new tokens over prefill plus decode time.
func (s *Stats) TokensPerSecond() float64 {
	return ratio(float64(s.NewTokens), (s.Prefill + s.Decode).Seconds())
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Engine runs speculative decoding of one verifier with one drafter. It is
// not safe for concurrent use.
type Engine struct {
	st    *llama.State
	d     Drafter
	aux   []int
	rows  []float32 // scratch: aux rows handed to Append
	p, q  [][]float32
	input []int32
}

// New returns an engine over verifier state st (batch 1) and drafter d.
func New(st *llama.State, d Drafter) (*Engine, error) {
	if st.Batch() != 1 {
		return nil, fmt.Errorf("spec: verifier state has batch %d, want 1", st.Batch())
	}
	N := st.Model().N()
	aux := d.AuxLayers()
	for _, id := range aux {
		if id < 0 || id > N {
			return nil, fmt.Errorf("spec: drafter wants verifier layer %d of a %d-layer model", id, N)
		}
	}
	return &Engine{st: st, d: d, aux: aux}, nil
}

// Generate decodes up to opt.MaxTokens new tokens after prompt, with the
// verifier's cache emptied first. With greedy Params the result is
// token-for-token the verifier's greedy decoding; otherwise each token is
// distributed as in plain sampling from the verifier.
func (e *Engine) Generate(prompt []int32, opt Options) ([]int32, Stats, error) {
	st := Stats{K: opt.K, AcceptedAt: make([]int, max(opt.K, 0))}
	if opt.K < 1 {
		return nil, st, fmt.Errorf("spec: %d speculative tokens, want ≥ 1", opt.K)
	}
	if len(prompt) == 0 {
		return nil, st, errors.New("spec: empty prompt")
	}
	if err := opt.Params.Validate(); err != nil {
		return nil, st, fmt.Errorf("spec: %w", err)
	}
	if opt.MaxTokens <= 0 {
		return nil, st, nil
	}
	vs, err := sample.New(opt.Params)
	if err != nil {
		return nil, st, err
	}
	dp := opt.Params
	dp.Seed ^= 0x9e3779b97f4a7c15
	ds, err := sample.New(dp)
	if err != nil {
		return nil, st, err
	}
	K, V := opt.K, e.st.Model().V()
	greedy := opt.Params.Greedy()
	if len(e.p) < K+1 || len(e.p[0]) != V {
		e.p, e.q = make([][]float32, K+1), make([][]float32, K)
		for i := range e.p {
			e.p[i] = make([]float32, V)
		}
		for i := range e.q {
			e.q[i] = make([]float32, V)
		}
	}
	var q [][]float32
	if !greedy {
		q = e.q[:K]
	}
	e.st.Reset()
	// Forward grows the cache as needed; reserve only a bounded head start.
	e.st.Reserve(0, len(prompt)+min(opt.MaxTokens, 4096)+K+1)
	st.PromptTokens = len(prompt)
	fo := llama.ForwardOptions{Logits: llama.LogitsLast, Capture: e.aux}

	t0 := time.Now()
	out, err := e.st.ForwardSeq(0, prompt, fo)
	if err != nil {
		return nil, st, err
	}
	next := int32(vs.Sample(out.LastLogits(0)))
	st.Prefill = time.Since(t0)
	t1 := time.Now()
	gen := []int32{next}
	if err := e.d.Reset(prompt[0]); err != nil {
		return nil, st, err
	}
	ids := append(slices.Clone(prompt[1:]), next)
	if err := e.d.Append(ids, e.auxRows(out, 0, len(prompt))); err != nil {
		return nil, st, err
	}
	done := func() bool {
		return len(gen) >= opt.MaxTokens || slices.Contains(opt.EOS, int(gen[len(gen)-1]))
	}
	fo.Logits = llama.LogitsAll
	for !done() {
		td := time.Now()
		drafts, err := e.d.Draft(K, ds, q)
		if err != nil {
			return gen, st, err
		}
		if len(drafts) != K {
			return gen, st, fmt.Errorf("spec: drafter proposed %d tokens, want %d", len(drafts), K)
		}
		tv := time.Now()
		st.DraftTime += tv.Sub(td)
		base := e.st.Len(0)
		e.input = append(append(e.input[:0], next), drafts...)
		out, err := e.st.ForwardSeq(0, e.input, fo)
		if err != nil {
			return gen, st, err
		}
		var m int
		var tok int32
		if greedy {
			// Only the argmax of each row matters: no distributions over the vocabulary.
			m, tok = acceptGreedy(out, drafts)
		} else {
			for i := range K + 1 {
				vs.Probs(e.p[i], out.TokenLogits(0, i))
			}
			m, tok = Accept(e.p[:K+1], q, drafts, greedy, vs)
		}
		st.Verify += time.Since(tv)
		st.Drafts++
		st.DraftTokens += K
		st.Accepted += m
		for i := range m {
			st.AcceptedAt[i]++
		}
		if err := e.st.Truncate(0, base+1+m); err != nil {
			return gen, st, err
		}
		ids = append(append(ids[:0], drafts[:m]...), tok)
		if err := e.d.Append(ids, e.auxRows(out, 0, m+1)); err != nil {
			return gen, st, err
		}
		for _, id := range ids {
			gen = append(gen, id)
			if done() {
				break
			}
		}
		next = tok
	}
	st.Decode = time.Since(t1)
	st.NewTokens = len(gen)
	return gen, st, nil
}

// auxRows returns the captured states of new tokens lo..hi−1 of out, or nil
// when the drafter needs none.
func (e *Engine) auxRows(out *llama.Output, lo, hi int) []float32 {
	if len(e.aux) == 0 {
		return nil
	}
	w := out.A * out.H
	return out.Hidden[(out.Offsets[0]+lo)*w : (out.Offsets[0]+hi)*w]
}

// acceptGreedy is Accept with greedy set, reading the argmax of each row
// of the verifier's logits.
func acceptGreedy(out *llama.Output, drafts []int32) (int, int32) {
	for i, d := range drafts {
		if a := int32(sample.Argmax(out.TokenLogits(0, i))); a != d {
			return i, a
		}
	}
	return len(drafts), int32(sample.Argmax(out.TokenLogits(0, len(drafts))))
}

// Accept verifies drafts against the verifier's distributions p (K+1 rows:
// p[i] scores the token at draft position i, p[K] the bonus position). With
// greedy set, draft i is accepted when it is the argmax of p[i] and the
// final token is an argmax. Otherwise draft i is accepted with probability
// min(1, p[i][d]/q[i][d]); the first rejection draws the final token from
// the normalised residual max(p[i]−q[i], 0), and when all K are accepted
// the bonus token is drawn from p[K]. It returns the number m of accepted
// drafts and the token that follows them. smp supplies the randomness.
func Accept(p, q [][]float32, drafts []int32, greedy bool, smp *sample.Sampler) (int, int32) {
	K := len(drafts)
	for i, d := range drafts {
		if greedy {
			a := int32(sample.Argmax(p[i]))
			if a != d {
				return i, a
			}
			continue
		}
		pd, qd := float64(p[i][d]), float64(q[i][d])
		if qd > 0 && (pd >= qd || smp.Float64()*qd < pd) {
			continue
		}
		res := q[i] // reused as scratch: the residual replaces q
		var total float64
		for j := range res {
			r := p[i][j] - res[j]
			if r < 0 {
				r = 0
			}
			res[j] = r
			total += float64(r)
		}
		if !(total > 0) {
			// p ≤ q everywhere only when p = q up to rounding: fall back to p.
			return i, int32(smp.Draw(p[i]))
		}
		return i, int32(smp.Draw(res))
	}
	if greedy {
		return K, int32(sample.Argmax(p[K]))
	}
	return K, int32(smp.Draw(p[K]))
}
