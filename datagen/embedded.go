package datagen

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"

	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
)

// embedded runs the verifier in-process with model/llama.
type embedded struct {
	dir      string
	m        *llama.Model
	aux, cap []int
	states   map[int]*llama.State
}

func newEmbedded(o *Options) (*embedded, error) {
	m, err := llama.Load(o.Model)
	if err != nil {
		return nil, err
	}
	aux := o.Layers
	if aux == nil {
		aux = m.DefaultAuxLayers()
	}
	for _, l := range aux {
		if l > m.N() {
			return nil, fmt.Errorf("datagen: layer id %d > the verifier's %d layers", l, m.N())
		}
	}
	return &embedded{dir: o.Model, m: m, aux: aux, cap: captureIDs(aux, m.N()), states: map[int]*llama.State{}}, nil
}

func (e *embedded) name() string                  { return "embedded" }
func (e *embedded) verifier() string              { return e.dir }
func (e *embedded) layers() (aux, captured []int) { return e.aux, e.cap }
func (e *embedded) hiddenSize() int               { return e.m.H() }

// Batches packs rows into forward passes of at most maxTokens tokens and
// maxRows rows (a longer row goes alone). The packing depends only on the
// rank's row list, never on which files already exist, so a resumed run
// computes every row in the same batch as an uninterrupted one and writes
// bit-identical files (the matrix kernels' rounding depends on the batch's
// row count).
func Batches(lens []int, maxTokens, maxRows int) [][2]int {
	var out [][2]int
	lo, tok := 0, 0
	for i, n := range lens {
		if i > lo && (tok+n > maxTokens || i-lo >= maxRows) {
			out = append(out, [2]int{lo, i})
			lo, tok = i, 0
		}
		tok += n
	}
	if lo < len(lens) {
		out = append(out, [2]int{lo, len(lens)})
	}
	return out
}

// Prefill runs one batched prefill of rows and returns each row's payload
// with hidden states (S, A+1, H) rounded to BF16 (round to nearest even).
func (e *embedded) Prefill(rows [][]int64) ([]*HiddenStates, error) {
	B := len(rows)
	st := e.states[B]
	if st == nil {
		st = e.m.NewState(B)
		e.states[B] = st
	} else {
		st.Reset()
	}
	toks := make([][]int32, B)
	for b, ids := range rows {
		toks[b] = make([]int32, len(ids))
		for i, v := range ids {
			toks[b][i] = int32(v)
		}
	}
	out, err := st.Forward(toks, llama.ForwardOptions{Logits: llama.LogitsNone, Capture: e.cap})
	if err != nil {
		return nil, err
	}
	A, H := len(e.cap), e.m.H()
	res := make([]*HiddenStates, B)
	for b := range rows {
		lo, hi := out.Offsets[b], out.Offsets[b+1]
		src := out.Hidden[lo*A*H : hi*A*H]
		buf := make([]byte, 2*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint16(buf[2*i:], safetensors.Float32ToBF16(v))
		}
		res[b] = &HiddenStates{TokenIDs: rows[b], Hidden: buf, DType: safetensors.BF16, Seq: hi - lo, Slots: A, HiddenSize: H}
	}
	return res, nil
}

// checkRow rejects rows the model cannot run, so that one bad row never
// fails (or reshapes) the batches of the others.
func (e *embedded) checkRow(ids []int64) error {
	if len(ids) == 0 {
		return fmt.Errorf("empty row")
	}
	if mp := e.m.Config.MaxPositionEmbeddings; mp > 0 && len(ids) > mp {
		return fmt.Errorf("%d tokens exceed max_position_embeddings %d", len(ids), mp)
	}
	for i, v := range ids {
		if v < 0 || v >= int64(e.m.V()) {
			return fmt.Errorf("token %d: id %d outside the vocabulary of %d", i, v, e.m.V())
		}
	}
	return nil
}

func (e *embedded) run(ctx context.Context, r *runner, jobs []job) error {
	pending := map[int]bool{}
	for _, j := range jobs {
		pending[j.row] = true
	}
	// The packing is over all of the rank's runnable rows, done or not.
	var rows []int
	var lens []int
	for _, i := range r.mine {
		ids := r.rows[i].InputIDs
		if err := e.checkRow(ids); err != nil {
			if pending[i] {
				r.failedRow(i, err)
			}
			continue
		}
		rows = append(rows, i)
		lens = append(lens, len(ids))
	}
	for _, bt := range Batches(lens, r.o.BatchTokens, r.o.BatchRows) {
		if ctx.Err() != nil {
			return nil
		}
		need := false
		for _, i := range rows[bt[0]:bt[1]] {
			need = need || pending[i]
		}
		if !need {
			continue
		}
		batch := make([][]int64, 0, bt[1]-bt[0])
		for _, i := range rows[bt[0]:bt[1]] {
			batch = append(batch, r.rows[i].InputIDs)
		}
		hs, err := e.Prefill(batch)
		if err != nil {
			for _, i := range rows[bt[0]:bt[1]] {
				if pending[i] {
					r.failedRow(i, err)
				}
			}
			continue
		}
		for k, i := range rows[bt[0]:bt[1]] {
			if !pending[i] {
				continue
			}
			if r.o.Validate {
				if err := hs[k].Check(batch[k], true); err != nil {
					r.failedRow(i, err)
					continue
				}
			}
			path := filepath.Join(r.o.Output, FileName(i))
			if err := hs[k].Write(path); err != nil {
				r.failedRow(i, err)
				continue
			}
			sum, size, err := hashFile(path)
			if err != nil {
				r.failedRow(i, err)
				continue
			}
			r.succeeded(ManifestFile{File: FileName(i), Row: i, Tokens: len(batch[k]), Bytes: size, SHA256: sum})
		}
	}
	return nil
}
