package llama

import (
	"fmt"

	"github.com/speculators-go/speculators/tensor"
)

// LogitsMode says which rows of logits Forward computes.
type LogitsMode int

const (
	// LogitsNone computes no logits (hidden-state extraction).
	LogitsNone LogitsMode = iota
	// LogitsLast computes one row per sequence, for its last new token
	// (generation); a sequence with no new tokens gets a zero row.
	LogitsLast
	// LogitsAll computes one row per new token (verification of drafts,
	// parity checks).
	LogitsAll
)

// ForwardOptions selects the outputs of a Forward call.
type ForwardOptions struct {
	Logits LogitsMode
	// Capture lists layer ids in [0, N] whose hidden states are returned,
	// in this order: id k is the residual stream entering decoder layer k
	// (transformers' hidden_states[k]); id N is the last layer's output
	// before the final RMSNorm (vLLM's aux-layer semantics).
	Capture []int
}

// Output holds the results of one Forward call. It belongs to the State
// and is overwritten by the next Forward.
type Output struct {
	// Offsets has B+1 entries: the new tokens of sequence b are rows
	// Offsets[b] to Offsets[b+1] of the packed token dimension T.
	Offsets []int
	// Logits is (T, V) for LogitsAll, (B, V) for LogitsLast, nil for LogitsNone.
	Logits []float32
	// Hidden is (T, A, H) with A = len(Capture): the captured states of every
	// new token in capture order.
	Hidden  []float32
	V, H, A int
	mode    LogitsMode
}

// TokenLogits returns the logits row of new token i of sequence b (LogitsAll).
func (o *Output) TokenLogits(b, i int) []float32 {
	r := o.Offsets[b] + i
	return o.Logits[r*o.V : (r+1)*o.V]
}

// LastLogits returns the logits row of the last new token of sequence b,
// in either LogitsLast or LogitsAll mode.
func (o *Output) LastLogits(b int) []float32 {
	if o.mode == LogitsAll {
		return o.TokenLogits(b, o.Offsets[b+1]-o.Offsets[b]-1)
	}
	return o.Logits[b*o.V : (b+1)*o.V]
}

// TokenHidden returns the captured states (A, H) of new token i of sequence b.
func (o *Output) TokenHidden(b, i int) []float32 {
	r := o.Offsets[b] + i
	return o.Hidden[r*o.A*o.H : (r+1)*o.A*o.H]
}

// State is the key/value cache of a batch of B sequences plus the
// workspace of the forward pass. It is not safe for concurrent use; give
// each goroutine its own State over a shared Model.
//
// Cache positions: sequence b holds the keys and values of its tokens at
// positions 0..Len(b)−1. Forward appends n new tokens at positions
// Len(b)..Len(b)+n−1 and then Len(b) grows by n. Truncate(b, n) drops
// positions n and later (rolling back rejected draft tokens), after which
// Forward continues exactly as if they had never been appended.
type State struct {
	m      *Model
	lens   []int
	caps   []int       // positions allocated per sequence
	kc, vc [][]float32 // [layer·B + b]: (caps[b], KVH, HD)

	// workspace, grown to the largest T seen
	ws struct {
		rows                         int
		x, xn, q, k, v, att, o, g, u []float32
		rstd, cos, sin, lse          []float32
		ids, pos                     []int32
	}
	logits, hidden []float32
	tok            [][]int32
	out            Output
}

// NewState returns an empty cache for batch sequences.
func (m *Model) NewState(batch int) *State {
	if batch < 1 {
		panic("llama: NewState needs batch ≥ 1")
	}
	n := m.N()
	return &State{
		m:    m,
		lens: make([]int, batch),
		caps: make([]int, batch),
		kc:   make([][]float32, n*batch),
		vc:   make([][]float32, n*batch),
		tok:  make([][]int32, batch),
		out:  Output{Offsets: make([]int, batch+1)},
	}
}

// Model returns the model the state runs.
func (s *State) Model() *Model { return s.m }

// Batch is the number of sequences.
func (s *State) Batch() int { return len(s.lens) }

// Len is the number of cached positions of sequence b.
func (s *State) Len(b int) int { return s.lens[b] }

// Truncate rolls sequence b back to its first n positions (0 ≤ n ≤ Len(b)).
func (s *State) Truncate(b, n int) error {
	if b < 0 || b >= len(s.lens) {
		return fmt.Errorf("llama: truncate: sequence %d outside batch of %d", b, len(s.lens))
	}
	if n < 0 || n > s.lens[b] {
		return fmt.Errorf("llama: truncate: sequence %d to %d positions, it has %d", b, n, s.lens[b])
	}
	s.lens[b] = n
	return nil
}

// Reset empties every sequence, keeping the allocated cache.
func (s *State) Reset() {
	clear(s.lens)
}

// Reserve makes room for n positions of sequence b, so that later Forward
// calls up to that length allocate nothing.
func (s *State) Reserve(b, n int) {
	if n <= s.caps[b] {
		return
	}
	kvd := s.m.Config.KVHeads * s.m.Config.HeadDim
	B := len(s.lens)
	for l := 0; l < s.m.N(); l++ {
		for _, c := range [][][]float32{s.kc, s.vc} {
			nb := make([]float32, n*kvd)
			copy(nb, c[l*B+b][:s.lens[b]*kvd])
			c[l*B+b] = nb
		}
	}
	s.caps[b] = n
}

// ForwardSeq is Forward with new tokens for sequence b only.
func (s *State) ForwardSeq(b int, ids []int32, opt ForwardOptions) (*Output, error) {
	if b < 0 || b >= len(s.lens) {
		return nil, fmt.Errorf("llama: forward: sequence %d outside batch of %d", b, len(s.lens))
	}
	for i := range s.tok {
		s.tok[i] = nil
	}
	s.tok[b] = ids
	return s.Forward(s.tok, opt)
}

func (s *State) grow(t, capture int, logits LogitsMode) {
	c := s.m.Config
	H, I, qd, kvd := c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads*c.HeadDim, c.KVHeads*c.HeadDim
	w := &s.ws
	if t > w.rows {
		w.rows = t
		w.x = make([]float32, t*H)
		w.xn = make([]float32, max(t, len(s.lens))*H)
		w.q = make([]float32, t*qd)
		w.k = make([]float32, t*kvd)
		w.v = make([]float32, t*kvd)
		w.att = make([]float32, t*qd)
		w.o = make([]float32, t*H)
		w.g = make([]float32, t*I)
		w.u = make([]float32, t*I)
		w.rstd = make([]float32, max(t, len(s.lens))*max(c.NumAttentionHeads, 1))
		half := c.Rope.RotaryDim() / 2
		w.cos = make([]float32, t*half)
		w.sin = make([]float32, t*half)
		w.lse = make([]float32, t*c.NumAttentionHeads)
		w.ids = make([]int32, t)
		w.pos = make([]int32, t)
	}
	rows := 0
	switch logits {
	case LogitsAll:
		rows = t
	case LogitsLast:
		rows = len(s.lens)
	}
	if n := rows * c.VocabSize; cap(s.logits) < n {
		s.logits = make([]float32, n)
	}
	if n := t * capture * H; cap(s.hidden) < n {
		s.hidden = make([]float32, n)
	}
}

// Forward appends tokens[b] to sequence b for every b (len(tokens) must
// be Batch(); empty entries leave a sequence unchanged) and runs them
// through the model in one pass: a prefill, a single-token decode step or
// a multi-token extension alike. Each new token attends to its sequence's
// cached positions and to the new tokens before it. Invalid input (token
// ids outside the vocabulary, capture ids outside [0, N]) is an error that
// leaves the cache unchanged.
func (s *State) Forward(tokens [][]int32, opt ForwardOptions) (*Output, error) {
	m, c := s.m, s.m.Config
	B := len(s.lens)
	if len(tokens) != B {
		return nil, fmt.Errorf("llama: forward: %d token lists for a batch of %d", len(tokens), B)
	}
	N, H, V, I := c.NumHiddenLayers, c.HiddenSize, c.VocabSize, c.IntermediateSize
	NH, KVH, HD := c.NumAttentionHeads, c.KVHeads, c.HeadDim
	qd, kvd := NH*HD, KVH*HD
	for _, id := range opt.Capture {
		if id < 0 || id > N {
			return nil, fmt.Errorf("llama: forward: capture layer %d outside [0, %d]", id, N)
		}
	}
	T := 0
	for b, ts := range tokens {
		for i, id := range ts {
			if id < 0 || int(id) >= V {
				return nil, fmt.Errorf("llama: forward: sequence %d token %d: id %d outside vocabulary of %d", b, i, id, V)
			}
		}
		T += len(ts)
	}
	A := len(opt.Capture)
	s.grow(T, A, opt.Logits)
	out := &s.out
	out.V, out.H, out.A, out.mode = V, H, A, opt.Logits
	out.Offsets[0] = 0
	for b, ts := range tokens {
		out.Offsets[b+1] = out.Offsets[b] + len(ts)
	}
	out.Logits, out.Hidden = nil, s.hidden[:T*A*H]
	switch opt.Logits {
	case LogitsAll:
		out.Logits = s.logits[:T*V]
	case LogitsLast:
		out.Logits = s.logits[:B*V]
	}
	if T == 0 {
		if out.Logits != nil {
			clear(out.Logits)
		}
		return out, nil
	}
	for b, ts := range tokens {
		if need := s.lens[b] + len(ts); need > s.caps[b] {
			s.Reserve(b, max(need, 2*s.caps[b], 16))
		}
	}
	w := &s.ws
	x, xn := w.x[:T*H], w.xn[:T*H]
	ids, pos := w.ids[:T], w.pos[:T]
	r := 0
	for b, ts := range tokens {
		for i, id := range ts {
			ids[r] = id
			pos[r] = int32(s.lens[b] + i)
			r++
		}
	}
	if err := tensor.EmbeddingForward(x, m.Embed, ids, V, H); err != nil {
		return nil, fmt.Errorf("llama: forward: %w", err)
	}
	rot := c.Rope.RotaryDim()
	cos, sin := w.cos[:T*rot/2], w.sin[:T*rot/2]
	tensor.RoPETables(cos, sin, pos, m.invFreq, m.attnScale)
	q, k, v, att, o := w.q[:T*qd], w.k[:T*kvd], w.v[:T*kvd], w.att[:T*qd], w.o[:T*H]
	g, u := w.g[:T*I], w.u[:T*I]
	rstd := w.rstd
	for l := 0; l < N; l++ {
		s.capture(opt.Capture, l, x, T)
		L := &m.Layers[l]
		// Attention block. x (T, H) → xn → q (T, NH, HD), k, v (T, KVH, HD).
		tensor.RMSNormForward(xn, rstd, x, L.AttnNorm, T, H, c.Eps)
		L.Wq.forward(q, xn, L.Bq, T, H, qd)
		L.Wk.forward(k, xn, L.Bk, T, H, kvd)
		L.Wv.forward(v, xn, L.Bv, T, H, kvd)
		if c.QKNorm {
			tensor.RMSNormForward(q, rstd, q, L.QNorm, T*NH, HD, c.Eps)
			tensor.RMSNormForward(k, rstd, k, L.KNorm, T*KVH, HD, c.Eps)
		}
		tensor.RoPEForward(q, cos, sin, T, NH, HD, rot)
		tensor.RoPEForward(k, cos, sin, T, KVH, HD, rot)
		for b := range tokens {
			lo, hi := out.Offsets[b], out.Offsets[b+1]
			n := hi - lo
			if n == 0 {
				continue
			}
			P := s.lens[b]
			kc, vc := s.kc[l*B+b], s.vc[l*B+b]
			copy(kc[P*kvd:(P+n)*kvd], k[lo*kvd:hi*kvd])
			copy(vc[P*kvd:(P+n)*kvd], v[lo*kvd:hi*kvd])
			qb, ab := q[lo*qd:hi*qd], att[lo*qd:hi*qd]
			if P == 0 && n > 1 {
				tensor.AttentionForward(ab, w.lse[:NH*n], qb, kc[:n*kvd], vc[:n*kvd],
					tensor.AttnShape{T: n, S: n, NH: NH, KVH: KVH, HD: HD, Window: L.Window})
			} else {
				tensor.AttentionKVForward(ab, qb, kc[:(P+n)*kvd], vc[:(P+n)*kvd],
					tensor.KVAttnShape{T: n, Past: P, NH: NH, KVH: KVH, HD: HD, Window: L.Window})
			}
		}
		L.Wo.forward(o, att, L.Bo, T, qd, H)
		addTo(x, o)
		// MLP block: x += down(silu(gate(xn)) ⊙ up(xn)).
		tensor.RMSNormForward(xn, rstd, x, L.MLPNorm, T, H, c.Eps)
		L.Wg.forward(g, xn, L.Bg, T, H, I)
		L.Wu.forward(u, xn, L.Bu, T, H, I)
		tensor.SiLUGateForward(g, g, u)
		L.Wd.forward(o, g, L.Bd, T, I, H)
		addTo(x, o)
	}
	s.capture(opt.Capture, N, x, T)
	for b, ts := range tokens {
		s.lens[b] += len(ts)
	}
	switch opt.Logits {
	case LogitsAll:
		tensor.RMSNormForward(xn, rstd, x, m.Norm, T, H, c.Eps)
		tensor.LinearAuto(out.Logits, xn, m.LMHead, nil, T, H, V)
	case LogitsLast:
		xl := w.xn[:B*H]
		for b := 0; b < B; b++ {
			if n := out.Offsets[b+1] - out.Offsets[b]; n > 0 {
				r := out.Offsets[b+1] - 1
				copy(xl[b*H:(b+1)*H], x[r*H:(r+1)*H])
			} else {
				clear(xl[b*H : (b+1)*H])
			}
		}
		tensor.RMSNormForward(xl, rstd, xl, m.Norm, B, H, c.Eps)
		tensor.LinearAuto(out.Logits, xl, m.LMHead, nil, B, H, V)
	}
	return out, nil
}

// capture copies x (T, H) into every capture slot asking for layer id.
func (s *State) capture(ids []int, id int, x []float32, T int) {
	A, H := len(ids), s.m.H()
	for a, want := range ids {
		if want != id {
			continue
		}
		for r := 0; r < T; r++ {
			copy(s.hidden[(r*A+a)*H:(r*A+a+1)*H], x[r*H:(r+1)*H])
		}
	}
}

func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
