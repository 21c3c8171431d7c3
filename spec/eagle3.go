package spec

import (
	"fmt"

	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
)

// Eagle3 drafts with an EAGLE-3 speculator: verified tokens enter its cache
// with the verifier's aux hidden states of the position before them (TTT
// step 0), drafted tokens with the draft's own previous hidden state (TTT
// steps ≥ 1, training-spec §5.3). Draft ids map to verifier ids through d2t.
type Eagle3 struct {
	m       *eagle3.Model
	dr      *eagle3.Drafter
	aux     []int
	verLen  int // positions of the verified sequence (x_0 included)
	cached  int // drafter cache positions holding verified tokens
	pendIDs []int32
	pendAux []float32
	hid     []float32 // hidden state of the last verified position
	logits  []float32 // its draft logits (Vd)
	probs   []float32 // (Vd)
	chunk   int
	drafts  []int32 // Draft's result, reused
}

// NewEagle3 wraps a loaded EAGLE-3 draft for a verifier of nLayers layers,
// for sequences of up to maxLen tokens.
func NewEagle3(m *eagle3.Model, nLayers, maxLen int) (*Eagle3, error) {
	aux := m.Cfg.AuxLayerIDs()
	if aux == nil {
		aux = llama.DefaultAuxLayers(nLayers)
	}
	if len(aux) != m.A {
		return nil, fmt.Errorf("spec: eagle3 draft reads %d aux layers, config lists %d", m.A, len(aux))
	}
	for _, id := range aux {
		if id < 0 || id > nLayers {
			return nil, fmt.Errorf("spec: eagle3 aux layer %d outside a %d-layer verifier", id, nLayers)
		}
	}
	const chunk = 64
	return &Eagle3{m: m, dr: m.NewDrafter(maxLen, chunk), aux: aux, chunk: chunk,
		hid: make([]float32, m.H), logits: make([]float32, m.Vd), probs: make([]float32, m.Vd)}, nil
}

// AuxLayers implements Drafter.
func (e *Eagle3) AuxLayers() []int { return e.aux }

// Reset implements Drafter.
func (e *Eagle3) Reset(first int32) error {
	e.dr.Reset()
	e.verLen, e.cached = 1, 0
	e.pendIDs, e.pendAux = e.pendIDs[:0], e.pendAux[:0]
	return nil
}

// Append implements Drafter; the work is done lazily by Draft.
func (e *Eagle3) Append(ids []int32, aux []float32) error {
	if AH := e.m.A * e.m.H; len(aux) != len(ids)*AH {
		return fmt.Errorf("spec: eagle3: %d aux values for %d tokens, want %d", len(aux), len(ids), len(ids)*AH)
	}
	e.pendIDs = append(e.pendIDs, ids...)
	e.pendAux = append(e.pendAux, aux...)
	e.verLen += len(ids)
	return nil
}

// flush drops the speculative positions and extends the cache with the
// pending verified tokens.
func (e *Eagle3) flush() error {
	if len(e.pendIDs) == 0 {
		if e.cached == 0 {
			return fmt.Errorf("spec: eagle3: nothing to draft from")
		}
		e.dr.Truncate(e.cached)
		return nil
	}
	e.dr.Truncate(e.cached)
	AH := e.m.A * e.m.H
	for lo := 0; lo < len(e.pendIDs); lo += e.chunk {
		hi := min(lo+e.chunk, len(e.pendIDs))
		// Verified token j of the sequence sits at position j (x_0 at 0, never cached).
		pos0 := e.cached + 1
		// Only the last position drafts: the others need just their keys and values.
		h, l, err := e.dr.ExtendLast(e.pendIDs[lo:hi], e.pendAux[lo*AH:hi*AH], pos0)
		if err != nil {
			return fmt.Errorf("spec: %w", err)
		}
		e.cached += hi - lo
		copy(e.hid, h)
		copy(e.logits, l)
	}
	e.pendIDs, e.pendAux = e.pendIDs[:0], e.pendAux[:0]
	return nil
}

// Draft implements Drafter.
func (e *Eagle3) Draft(k int, smp *sample.Sampler, q [][]float32) ([]int32, error) {
	if err := e.flush(); err != nil {
		return nil, err
	}
	out := e.drafts[:0]
	defer func() { e.drafts = out[:0] }()
	logits, hid := e.logits, e.hid
	for i := range k {
		var tok int32
		if smp.Params().Greedy() {
			tok = e.m.ArgmaxTarget(logits)
			if q != nil {
				clear(q[i])
				q[i][tok] = 1
			}
		} else {
			smp.Probs(e.probs, logits)
			d := smp.Draw(e.probs)
			tok = int32(e.m.DraftToTarget(d))
			if q != nil {
				clear(q[i])
				for j, p := range e.probs {
					q[i][e.m.DraftToTarget(j)] = p
				}
			}
		}
		out = append(out, tok)
		if i == k-1 {
			break
		}
		// The drafted token sits at sequence position verLen+i.
		h, l, err := e.dr.Step(tok, hid, e.verLen+i)
		if err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
		hid, logits = h, l
	}
	return out, nil
}
