package lmtrain

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/speculators-go/speculators/tokenizer"
)

// MaxInputBytes bounds the text read for training.
const MaxInputBytes = 1 << 30

// LoadDocs reads text files, splits them into documents at sep (dropped;
// empty documents skipped), and encodes each with tok (special tokens in the
// text are matched), truncated to maxLen tokens.
func LoadDocs(tok *tokenizer.Tokenizer, files []string, sep string, maxLen int) ([][]int32, error) {
	var docs [][]int32
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("lmtrain: %w", err)
		}
		if total += fi.Size(); total > MaxInputBytes {
			return nil, fmt.Errorf("lmtrain: inputs larger than %d bytes", MaxInputBytes)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("lmtrain: %w", err)
		}
		parts := []string{string(b)}
		if sep != "" {
			parts = strings.Split(string(b), sep)
		}
		var texts []string
		for _, p := range parts {
			if strings.TrimSpace(p) != "" {
				texts = append(texts, p)
			}
		}
		for _, ids := range tok.EncodeBatch(texts, false, 0) {
			if len(ids) > maxLen {
				ids = ids[:maxLen]
			}
			d := make([]int32, len(ids))
			for i, id := range ids {
				d[i] = int32(id)
			}
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("lmtrain: no documents in %v", files)
	}
	return docs, nil
}

// Batch is one packed step: T positions of whole or truncated documents.
type Batch struct {
	IDs, Pos, Doc, Labels []int32
	Tokens                int // labelled positions
}

// Packer walks the documents in a fresh seeded permutation per epoch and
// packs them into batches of T tokens. Its cursor (Epoch, Index) is all a
// resumed run needs.
type Packer struct {
	Docs         [][]int32
	T            int
	Seed         uint64
	Epoch, Index int
	perm         []int
	permEpoch    int
}

func (p *Packer) order() []int {
	if p.perm == nil || p.permEpoch != p.Epoch {
		r := rand.New(rand.NewPCG(p.Seed, uint64(p.Epoch)))
		p.perm = r.Perm(len(p.Docs))
		p.permEpoch = p.Epoch
	}
	return p.perm
}

// Next fills b (allocated on first use) with the next batch. A document that
// does not fit is cut when at least 16 positions remain, else the rest is
// padding (doc −1, label −1); the next batch starts with the next document.
func (p *Packer) Next(b *Batch) {
	T := p.T
	if len(b.IDs) != T {
		*b = Batch{IDs: make([]int32, T), Pos: make([]int32, T), Doc: make([]int32, T), Labels: make([]int32, T)}
	}
	b.Tokens = 0
	i, nd := 0, int32(0)
	for i < T {
		perm := p.order()
		d := p.Docs[perm[p.Index]]
		room := T - i
		if len(d) > room && room < 16 && i > 0 {
			break
		}
		n := min(len(d), room)
		for j := range n {
			b.IDs[i+j], b.Pos[i+j], b.Doc[i+j] = d[j], int32(j), nd
			b.Labels[i+j] = -1
			if j+1 < len(d) {
				b.Labels[i+j] = d[j+1]
				b.Tokens++
			}
		}
		i += n
		nd++
		if p.Index++; p.Index == len(p.Docs) {
			p.Index, p.Epoch = 0, p.Epoch+1
		}
	}
	for ; i < T; i++ {
		b.IDs[i], b.Pos[i], b.Doc[i], b.Labels[i] = 0, 0, -1, -1
	}
}
