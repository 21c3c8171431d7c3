package tokenizer

import "math/bits"

// pairTable is an open-addressing hash table from a pair of token ids to its
// merge. It is built once and only read afterwards; a flat array of 16-byte
// slots costs about one cache miss per lookup, half of what a Go map costs
// on the hot path of BPE.
type pairTable struct {
	slots []pairSlot
	mask  uint64
	n     int
}

type pairSlot struct {
	key uint64 // pairKey+1; 0 marks an empty slot
	m   merge
}

func newPairTable(n int) *pairTable {
	size := 1 << bits.Len(uint(max(2*n, 8)))
	return &pairTable{slots: make([]pairSlot, size), mask: uint64(size - 1)}
}

func hashPair(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

// put sets the merge of k, replacing an earlier one: a pair listed twice
// keeps its last rank, as tokenizers' HashMap collect does.
func (t *pairTable) put(k uint64, m merge) {
	k++
	for i := hashPair(k) & t.mask; ; i = (i + 1) & t.mask {
		switch t.slots[i].key {
		case 0:
			t.slots[i] = pairSlot{key: k, m: m}
			t.n++
			return
		case k:
			t.slots[i].m = m
			return
		}
	}
}

func (t *pairTable) get(k uint64) (merge, bool) {
	k++
	for i := hashPair(k) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == k {
			return s.m, true
		}
		if s.key == 0 {
			return merge{}, false
		}
	}
}
