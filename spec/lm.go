package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"

	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
)

// LM drafts with a small causal LM sharing the verifier's tokenizer: it
// keeps its own KV cache of the verified tokens and drafts autoregressively.
// Draft tokens outside the verifier's vocabulary are never proposed.
type LM struct {
	st      *llama.State
	V       int       // verifier vocabulary
	cached  int       // cache positions holding verified tokens
	pending []int32   // verified tokens not yet in the cache
	drafted []int32   // speculative tokens in the cache after the verified ones
	logits  []float32 // (V) last logits, clipped to the verifier vocabulary
	tok     []int32
	drafts  []int32 // Draft's result, reused
}

// NewLM wraps a draft model for a verifier of vocabulary verifierV.
func NewLM(m *llama.Model, verifierV int) *LM {
	return &LM{st: m.NewState(1), V: verifierV, logits: make([]float32, verifierV), tok: make([]int32, 1)}
}

// AuxLayers implements Drafter: a plain LM needs no verifier states.
func (l *LM) AuxLayers() []int { return nil }

// Reset implements Drafter.
func (l *LM) Reset(first int32) error {
	l.st.Reset()
	l.cached = 0
	l.pending = append(l.pending[:0], first)
	l.drafted = l.drafted[:0]
	return nil
}

// Append implements Drafter.
func (l *LM) Append(ids []int32, _ []float32) error {
	l.pending = append(l.pending, ids...)
	return nil
}

func (l *LM) setLogits(row []float32) {
	n := copy(l.logits, row)
	for i := n; i < l.V; i++ {
		l.logits[i] = float32(math.Inf(-1))
	}
}

// Draft implements Drafter.
func (l *LM) Draft(k int, smp *sample.Sampler, q [][]float32) ([]int32, error) {
	// Accepted drafts already in the cache keep their keys and values (they
	// depend on the tokens only); the rest of the speculative tail goes.
	keep := 0
	for keep < len(l.drafted) && keep < len(l.pending)-1 && l.drafted[keep] == l.pending[keep] {
		keep++
	}
	l.cached += keep
	l.pending = append(l.pending[:0], l.pending[keep:]...) // keep the buffer's front: no regrowth
	l.drafted = l.drafted[:0]
	if err := l.st.Truncate(0, l.cached); err != nil {
		return nil, fmt.Errorf("spec: draft LM: %w", err)
	}
	if len(l.pending) == 0 {
		return nil, fmt.Errorf("spec: draft LM: nothing to draft from")
	}
	opt := llama.ForwardOptions{Logits: llama.LogitsLast}
	out, err := l.st.ForwardSeq(0, l.pending, opt)
	if err != nil {
		return nil, fmt.Errorf("spec: draft LM: %w", err)
	}
	l.cached += len(l.pending)
	l.pending = l.pending[:0]
	l.setLogits(out.LastLogits(0))
	drafts := l.drafts[:0]
	defer func() { l.drafts = drafts[:0] }()
	for i := range k {
		var tok int32
		if q != nil {
			smp.Probs(q[i], l.logits)
			tok = int32(smp.Draw(q[i]))
		} else {
			tok = int32(smp.Sample(l.logits))
		}
		drafts = append(drafts, tok)
		if i == k-1 {
			break
		}
		l.tok[0] = tok
		l.drafted = append(l.drafted, tok)
		if out, err = l.st.ForwardSeq(0, l.tok, opt); err != nil {
			return nil, fmt.Errorf("spec: draft LM: %w", err)
		}
		l.setLogits(out.LastLogits(0))
	}
	return drafts, nil
}

// SameTokenizer checks that two Hugging Face model directories share a
// tokenizer: the model section (vocabulary, merges) and the added tokens of
// tokenizer.json must be equal. Speculating with another tokenizer would
// propose meaningless ids.
func SameTokenizer(verifierDir, draftDir string) error {
	load := func(dir string) (map[string]any, error) {
		p := filepath.Join(dir, "tokenizer.json")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("spec: tokenizer check: %w", err)
		}
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("spec: tokenizer check: %s: %w", p, err)
		}
		return v, nil
	}
	a, err := load(verifierDir)
	if err != nil {
		return err
	}
	b, err := load(draftDir)
	if err != nil {
		return err
	}
	for _, key := range []string{"model", "added_tokens"} {
		if !reflect.DeepEqual(a[key], b[key]) {
			return fmt.Errorf("spec: draft %s and verifier %s have different tokenizers (%q differs in tokenizer.json)", draftDir, verifierDir, key)
		}
	}
	return nil
}
