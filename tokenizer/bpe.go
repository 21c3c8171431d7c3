package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// bpe is a byte-pair-encoding model. Merges are looked up by the pair of
// symbol ids, never by strings, so the merge loop allocates nothing.
type bpe struct {
	vocab  map[string]int32
	tokens []string // id -> token; "" for holes
	merges map[uint64]merge

	unk          int32 // -1 when the model has no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	byteTok      [256]int32 // <0xNN> ids for byte fallback, -1 when absent

	// byteLevel: byteID maps a raw byte to the id of its GPT-2 byte-level
	// character, so words never have to be rewritten into that alphabet.
	byteID [256]int32
}

type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func buildBPE(m *modelJSON) (*bpe, error) {
	if m.Type != "BPE" && !(m.Type == "" && len(m.Merges) > 0) {
		if m.Type == "" {
			return nil, errors.New("model has no type")
		}
		return nil, fmt.Errorf("model type %q is not supported (only BPE)", m.Type)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("model: BPE dropout %v is not supported", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fmt.Errorf("model: BPE continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fmt.Errorf("model: BPE end_of_word_suffix %q is not supported", *m.EndOfWordSuffix)
	}
	b := &bpe{unk: -1, fuseUnk: m.FuseUnk, byteFallback: m.ByteFallback, ignoreMerges: m.IgnoreMerges}
	if err := b.parseVocab(m.Vocab); err != nil {
		return nil, err
	}
	if err := b.parseMerges(m.Merges); err != nil {
		return nil, err
	}
	if m.UnkToken != nil {
		id, ok := b.vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model: unk_token %q is not in the vocabulary", *m.UnkToken)
		}
		b.unk = id
	}
	for i := range b.byteTok {
		b.byteTok[i] = -1
		if id, ok := b.vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteTok[i] = id
		}
	}
	return b, nil
}

func (b *bpe) parseVocab(raw json.RawMessage) error {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return errors.New("model: no vocab")
	}
	var v map[string]int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("model.vocab: %w", err)
	}
	if len(v) > maxVocab {
		return fmt.Errorf("model.vocab: %d entries, more than %d", len(v), maxVocab)
	}
	b.vocab = make(map[string]int32, len(v))
	maxID := int64(-1)
	for tok, id := range v {
		if id < 0 || id >= maxVocab {
			return fmt.Errorf("model.vocab: token %q has id %d out of range", tok, id)
		}
		b.vocab[tok] = int32(id)
		maxID = max(maxID, id)
	}
	b.tokens = make([]string, maxID+1)
	for tok, id := range b.vocab {
		if b.tokens[id] != "" && b.tokens[id] != tok {
			return fmt.Errorf("model.vocab: id %d is used by both %q and %q", id, b.tokens[id], tok)
		}
		b.tokens[id] = tok
	}
	return nil
}

// parseMerges accepts both merge formats: "a b" strings (tokenizers < 0.20)
// and ["a", "b"] pairs.
func (b *bpe) parseMerges(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		b.merges = map[uint64]merge{}
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("model.merges: %w", err)
	}
	b.merges = make(map[uint64]merge, len(items))
	var pair []string
	for rank, it := range items {
		var l, r string
		if len(it) > 0 && it[0] == '"' {
			var s string
			if err := json.Unmarshal(it, &s); err != nil {
				return fmt.Errorf("model.merges[%d]: %w", rank, err)
			}
			var ok bool
			l, r, ok = strings.Cut(s, " ")
			if !ok {
				return fmt.Errorf("model.merges[%d]: %q is not two tokens separated by a space", rank, s)
			}
		} else {
			pair = pair[:0]
			if err := json.Unmarshal(it, &pair); err != nil || len(pair) != 2 {
				return fmt.Errorf("model.merges[%d]: want a string or a pair of strings", rank)
			}
			l, r = pair[0], pair[1]
		}
		li, ok1 := b.vocab[l]
		ri, ok2 := b.vocab[r]
		ni, ok3 := b.vocab[l+r]
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("model.merges[%d]: %q + %q uses a token missing from the vocabulary", rank, l, r)
		}
		k := pairKey(li, ri)
		if _, dup := b.merges[k]; !dup {
			b.merges[k] = merge{rank: int32(rank), id: ni}
		}
	}
	return nil
}

// initByteLevel prepares byteID for ByteLevel pre-tokenization.
func (b *bpe) initByteLevel() error {
	for i := range 256 {
		id, ok := b.vocab[string(byteToRune[i])]
		if !ok {
			id = -1
		}
		b.byteID[i] = id
	}
	return nil
}

// symbol is one node of the doubly linked list a word is merged in.
type symbol struct {
	id         int32
	prev, next int32
	dead       bool
}

// wordState is the scratch space of one encoder; it is reused across words.
type wordState struct {
	syms []symbol
	heap mergeHeap
}

type mergeCand struct {
	rank int32
	pos  int32
	id   int32
}

type mergeHeap []mergeCand

func (h mergeHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}

func (h *mergeHeap) push(c mergeCand) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeCand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// mergeWord applies the merges to ws.syms (already filled with the initial
// symbols) and appends the resulting ids to out. Lowest rank first, leftmost
// first among equal ranks, as Hugging Face tokenizers does.
func (b *bpe) mergeWord(ws *wordState, out []int) []int {
	syms := ws.syms
	n := len(syms)
	if n > 1 {
		if n <= 12 {
			// Short words: a linear scan beats the heap.
			for {
				best, bestRank, bestID := int32(-1), int32(1<<31-1), int32(0)
				for i := int32(0); i >= 0 && syms[i].next >= 0; i = syms[i].next {
					if m, ok := b.merges[pairKey(syms[i].id, syms[syms[i].next].id)]; ok && m.rank < bestRank {
						best, bestRank, bestID = i, m.rank, m.id
					}
				}
				if best < 0 {
					break
				}
				b.joinAt(syms, best, bestID)
			}
		} else {
			h := ws.heap[:0]
			for i := 0; i+1 < n; i++ {
				if m, ok := b.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
					h.push(mergeCand{rank: m.rank, pos: int32(i), id: m.id})
				}
			}
			for len(h) > 0 {
				c := h.pop()
				s := &syms[c.pos]
				if s.dead || s.next < 0 {
					continue
				}
				m, ok := b.merges[pairKey(s.id, syms[s.next].id)]
				if !ok || m.id != c.id || m.rank != c.rank {
					continue
				}
				b.joinAt(syms, c.pos, c.id)
				if p := s.prev; p >= 0 {
					if m, ok := b.merges[pairKey(syms[p].id, s.id)]; ok {
						h.push(mergeCand{rank: m.rank, pos: p, id: m.id})
					}
				}
				if nx := s.next; nx >= 0 {
					if m, ok := b.merges[pairKey(s.id, syms[nx].id)]; ok {
						h.push(mergeCand{rank: m.rank, pos: c.pos, id: m.id})
					}
				}
			}
			ws.heap = h
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, int(syms[i].id))
	}
	return out
}

// joinAt merges symbol i with its successor into id.
func (b *bpe) joinAt(syms []symbol, i, id int32) {
	nx := syms[i].next
	syms[i].id = id
	syms[nx].dead = true
	syms[i].next = syms[nx].next
	if nn := syms[nx].next; nn >= 0 {
		syms[nn].prev = i
	}
}

func (ws *wordState) reset() { ws.syms = ws.syms[:0] }

func (ws *wordState) add(id int32) {
	n := int32(len(ws.syms))
	ws.syms = append(ws.syms, symbol{id: id, prev: n - 1, next: -1})
	if n > 0 {
		ws.syms[n-1].next = n
	}
}

// encodeByteLevel encodes one pre-token given as raw bytes.
func (b *bpe) encodeByteLevel(ws *wordState, word string, out []int) []int {
	if b.ignoreMerges {
		if id, ok := b.vocab[byteLevelString(word)]; ok {
			return append(out, int(id))
		}
	}
	ws.reset()
	for i := 0; i < len(word); i++ {
		id := b.byteID[word[i]]
		if id < 0 {
			if b.unk >= 0 {
				ws.add(b.unk)
			}
			continue
		}
		ws.add(id)
	}
	if len(ws.syms) == 0 {
		return out
	}
	return b.mergeWord(ws, out)
}

// encodeChars encodes one pre-token whose characters are vocabulary symbols
// (SentencePiece-style BPE), with byte fallback and unk fusing.
func (b *bpe) encodeChars(ws *wordState, word string, out []int) []int {
	if b.ignoreMerges {
		if id, ok := b.vocab[word]; ok {
			return append(out, int(id))
		}
	}
	ws.reset()
	lastUnk := false
	for i := 0; i < len(word); {
		_, sz := utf8.DecodeRuneInString(word[i:])
		ch := word[i : i+sz]
		i += sz
		if id, ok := b.vocab[ch]; ok {
			ws.add(id)
			lastUnk = false
			continue
		}
		if b.byteFallback {
			ok := true
			for j := 0; j < len(ch); j++ {
				if b.byteTok[ch[j]] < 0 {
					ok = false
					break
				}
			}
			if ok {
				for j := 0; j < len(ch); j++ {
					ws.add(b.byteTok[ch[j]])
				}
				lastUnk = false
				continue
			}
		}
		if b.unk >= 0 {
			if !(b.fuseUnk && lastUnk) {
				ws.add(b.unk)
			}
			lastUnk = true
		}
	}
	if len(ws.syms) == 0 {
		return out
	}
	return b.mergeWord(ws, out)
}
