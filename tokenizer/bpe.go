package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is a byte-pair-encoding model. Merges are looked up by the pair of
// symbol ids, never by strings, so the merge loop allocates nothing.
type bpe struct {
	vocab  map[string]int32
	tokens []string // id -> token; "" for holes
	merges *pairTable

	unk          int32 // -1 when the model has no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	// metaSplit: "▁" is a token and no merge joins a left symbol not ending
	// in "▁" with a right one starting with "▁", so SentencePiece words
	// split before such "▁" encode to the same ids.
	metaSplit bool
	byteTok   [256]int32 // <0xNN> ids for byte fallback, -1 when absent

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
	var pairs [][2]string
	var vocabErr, mergesErr error
	var wg sync.WaitGroup
	wg.Go(func() { vocabErr = b.parseVocab(m.Vocab) })
	wg.Go(func() { pairs, mergesErr = parseMergePairs(m.Merges) })
	wg.Wait()
	if err := errors.Join(vocabErr, mergesErr); err != nil {
		return nil, err
	}
	if err := b.setMerges(pairs); err != nil {
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
	type entry struct {
		tok string
		id  int64
	}
	var ents []entry
	if scanVocab(raw, func(tok string, id int64) { ents = append(ents, entry{tok, id}) }) != nil {
		var v map[string]int64
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("model.vocab: %w", err)
		}
		ents = ents[:0]
		for tok, id := range v {
			ents = append(ents, entry{tok, id})
		}
	}
	if len(ents) > maxVocab {
		return fmt.Errorf("model.vocab: %d entries, more than %d", len(ents), maxVocab)
	}
	b.vocab = make(map[string]int32, len(ents))
	maxID := int64(-1)
	for _, e := range ents {
		if e.id < 0 || e.id >= maxVocab {
			return fmt.Errorf("model.vocab: token %q has id %d out of range", e.tok, e.id)
		}
		b.vocab[e.tok] = int32(e.id) // a repeated key keeps its last id, as JSON decoders do
		maxID = max(maxID, e.id)
	}
	// Real vocabularies are dense; a sparse one would make tokens huge.
	if maxID >= 2*int64(len(ents))+1<<16 {
		return fmt.Errorf("model.vocab: largest id %d for only %d tokens", maxID, len(ents))
	}
	b.tokens = make([]string, maxID+1)
	for _, e := range ents {
		if b.vocab[e.tok] != int32(e.id) {
			continue // overridden by a later repeat of the key
		}
		if t := b.tokens[e.id]; t != "" && t != e.tok {
			return fmt.Errorf("model.vocab: id %d is used by both %q and %q", e.id, t, e.tok)
		}
		b.tokens[e.id] = e.tok
	}
	return nil
}

// parseMergePairs accepts both merge formats: "a b" strings (tokenizers
// < 0.20) and ["a", "b"] pairs. It needs no vocabulary, so it runs while the
// vocabulary is parsed.
func parseMergePairs(raw json.RawMessage) ([][2]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if pairs, err := scanMerges(raw); err == nil {
		return pairs, nil
	}
	inner := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("[")))
	if len(inner) > 0 && inner[0] == '"' {
		var flat []string
		if err := json.Unmarshal(raw, &flat); err != nil {
			return nil, fmt.Errorf("model.merges: %w", err)
		}
		pairs := make([][2]string, len(flat))
		for i, s := range flat {
			l, r, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("model.merges[%d]: %q is not two tokens separated by a space", i, s)
			}
			pairs[i] = [2]string{l, r}
		}
		return pairs, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("model.merges: want strings or pairs of strings: %w", err)
	}
	return pairs, nil
}

// setMerges resolves merge pairs to ids. Rank is the position in the list.
func (b *bpe) setMerges(pairs [][2]string) error {
	b.merges = newPairTable(len(pairs))
	var buf []byte
	crosses := false
	for rank, p := range pairs {
		li, ok1 := b.vocab[p[0]]
		ri, ok2 := b.vocab[p[1]]
		buf = append(append(buf[:0], p[0]...), p[1]...)
		ni, ok3 := b.vocab[string(buf)]
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("model.merges[%d]: %q + %q uses a token missing from the vocabulary", rank, p[0], p[1])
		}
		b.merges.put(pairKey(li, ri), merge{rank: int32(rank), id: ni})
		if strings.HasPrefix(p[1], metaspace) && !strings.HasSuffix(p[0], metaspace) {
			crosses = true
		}
	}
	_, hasMeta := b.vocab[metaspace]
	b.metaSplit = hasMeta && !crosses && !b.ignoreMerges
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
					if m, ok := b.merges.get(pairKey(syms[i].id, syms[syms[i].next].id)); ok && m.rank < bestRank {
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
				if m, ok := b.merges.get(pairKey(syms[i].id, syms[i+1].id)); ok {
					h.push(mergeCand{rank: m.rank, pos: int32(i), id: m.id})
				}
			}
			for len(h) > 0 {
				c := h.pop()
				s := &syms[c.pos]
				if s.dead || s.next < 0 {
					continue
				}
				m, ok := b.merges.get(pairKey(s.id, syms[s.next].id))
				if !ok || m.id != c.id || m.rank != c.rank {
					continue
				}
				b.joinAt(syms, c.pos, c.id)
				if p := s.prev; p >= 0 {
					if m, ok := b.merges.get(pairKey(syms[p].id, s.id)); ok {
						h.push(mergeCand{rank: m.rank, pos: p, id: m.id})
					}
				}
				if nx := s.next; nx >= 0 {
					if m, ok := b.merges.get(pairKey(s.id, syms[nx].id)); ok {
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
