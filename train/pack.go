package train

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"sort"
)

// Batches returns the packed batches of one epoch for rank `rank` of
// `replicas`, as MultipackDistributedBatchSamplerV2 builds them
// (training-spec §4.5): lengths (pre-shift seq_len) are clipped to maxLen,
// the rows are shuffled with a generator seeded by seed+epoch, and each
// batch is the longest prefix of what is left that LPT can pack into
// `replicas` bins of maxLen tokens (found by binary search); the tail of
// fewer than `replicas` rows is dropped. Each batch lists dataset
// positions (indices into lengths) in LPT order, longest first.
//
// The shuffle is a Fisher-Yates over Go's PCG, not numpy's PCG64, so the
// order differs from Python's while every property of §4.5 holds.
func Batches(lengths []int, maxLen, replicas, rank int, seed uint64, epoch int) [][]int {
	n := len(lengths)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(seed+uint64(epoch), 0x6d756c7469706163))
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	ls := make([]int, n)
	for i, p := range perm {
		ls[i] = min(lengths[p], maxLen)
	}
	cum := make([]int, n)
	s := 0
	for i, l := range ls {
		s += l
		cum[i] = s
	}
	var out [][]int
	ind, consumed := 0, 0
	for n-ind >= replicas {
		rotation := len(out)
		left := 1
		// 1 + searchsorted(cum[ind:], consumed + maxLen·R, 'right')
		limit := consumed + maxLen*replicas
		right := 1 + sort.Search(n-ind, func(i int) bool { return cum[ind+i] > limit })
		var batch []int
		ok := false
		for right-left > 1 && right > replicas {
			mid := (left + right) / 2
			batch, ok = lpt(ls[ind:ind+mid], maxLen, replicas, ind, rank, rotation)
			if ok {
				left = mid
			} else {
				right = mid
			}
		}
		if !ok {
			batch, _ = lpt(ls[ind:ind+left], maxLen, replicas, ind, rank, rotation)
		}
		ind += left
		consumed = cum[ind-1]
		for i, b := range batch {
			batch[i] = perm[b]
		}
		out = append(out, batch)
	}
	return out
}

type bin struct{ fill, slot int }
type bins []bin

func (h bins) Len() int { return len(h) }
func (h bins) Less(i, j int) bool {
	if h[i].fill != h[j].fill {
		return h[i].fill < h[j].fill
	}
	return h[i].slot < h[j].slot
}
func (h bins) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *bins) Push(x any)   { *h = append(*h, x.(bin)) }
func (h *bins) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// lpt places ls in decreasing length order into the least-filled of R bins
// of capacity maxLen and returns the items (offset by start) of this rank's
// bin, slot (rank − rotation) mod R; ok is false when an item does not fit.
func lpt(ls []int, maxLen, replicas, start, rank, rotation int) ([]int, bool) {
	order := make([]int, len(ls))
	for i := range order {
		order[i] = i
	}
	// numpy's argsort(...)[::-1]: descending length, ties by descending index.
	slices.SortStableFunc(order, func(a, b int) int {
		if ls[a] != ls[b] {
			return ls[b] - ls[a]
		}
		return b - a
	})
	h := make(bins, replicas)
	for i := range h {
		h[i] = bin{0, i}
	}
	mine := ((rank-rotation)%replicas + replicas) % replicas
	var local []int
	for _, i := range order {
		f := h[0].fill + ls[i]
		if f > maxLen {
			return nil, false
		}
		if h[0].slot == mine {
			local = append(local, start+i)
		}
		h[0].fill = f
		heap.Fix(&h, 0)
	}
	return local, true
}
