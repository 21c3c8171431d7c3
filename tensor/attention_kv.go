package tensor

import (
	"fmt"
	"math"
	"sync"
)

// Attention of new tokens against a key/value cache, for inference: T new
// queries at positions Past..Past+T−1 attend to the Past+T cached keys
// (the new tokens' keys already written at the end). It serves single-token
// decode (T = 1) and the multi-token extension that verifies k draft tokens
// in one pass; a prefill with Past = 0 may use AttentionForward instead.

// KVAttnShape gives the sizes of one AttentionKVForward call.
type KVAttnShape struct {
	T, Past     int     // new queries; cached positions before them
	NH, KVH, HD int     // query heads, key/value heads (NH % KVH == 0), head dim
	LDK         int     // row stride of the k and v caches; 0 means KVH·HD
	Scale       float32 // score scale; 0 means 1/sqrt(HD)
	Window      int     // sliding window; 0 means none
}

func (s *KVAttnShape) ldk() int {
	if s.LDK != 0 {
		return s.LDK
	}
	return s.KVH * s.HD
}

func (s *KVAttnShape) scale() float32 {
	if s.Scale != 0 {
		return s.Scale
	}
	return float32(1 / math.Sqrt(float64(s.HD)))
}

// keyRange is the keys [lo, hi) query i may see: causal, and with a window
// W only keys j > p − W (Hugging Face's sliding-window mask).
func (s *KVAttnShape) keyRange(i int) (lo, hi int) {
	p := s.Past + i
	if s.Window > 0 {
		lo = max(0, p-s.Window+1)
	}
	return lo, p + 1
}

func (s *KVAttnShape) check(q, k, v, o []float32) {
	if s.T < 0 || s.Past < 0 || s.KVH <= 0 || s.NH%s.KVH != 0 || s.HD <= 0 || s.ldk() < s.KVH*s.HD || s.Window < 0 {
		panic(fmt.Sprintf("tensor: bad kv attention shape %+v", *s))
	}
	S := s.Past + s.T
	if len(q) < s.T*s.NH*s.HD || len(o) < s.T*s.NH*s.HD || (S > 0 && (len(k) < (S-1)*s.ldk()+s.KVH*s.HD || len(v) < (S-1)*s.ldk()+s.KVH*s.HD)) {
		panic("tensor: kv attention buffer too short")
	}
}

// AttentionKVForward computes out = softmax(scale·q·kᵀ + mask)·v for each
// head of the T new queries. Work is split over (query, key/value head)
// pairs; the heads of one group share their key rows while they are in cache.
// q, out (T, NH, HD); k, v (Past+T, KVH, HD) with row stride LDK.
func AttentionKVForward(out, q, k, v []float32, sh KVAttnShape) {
	sh.check(q, k, v, out)
	if sh.T >= kvBlockMin {
		attentionKVBlocked(out, q, k, v, sh)
		return
	}
	j := kvAttnPool.Get().(*kvAttnJob)
	j.out, j.q, j.k, j.v, j.sh = out, q, k, v, sh
	j.items = sh.T * sh.KVH
	j.parts = Chunks(j.items, 1)
	if sh.T*sh.NH*(sh.Past+sh.T)*sh.HD < kvSerialWork {
		j.parts = 1 // a short cache: the hand-off costs more than it saves
	}
	parallel(j.parts, j, &j.wg)
	j.out, j.q, j.k, j.v = nil, nil, nil, nil
	kvAttnPool.Put(j)
}

// kvSerialWork is the multiply-add count (per score or output pass) below
// which AttentionKVForward runs on the calling goroutine.
const kvSerialWork = 1 << 15

// kvAttnJob is one AttentionKVForward call as a pool task, so that a decode
// step allocates nothing (a closure handed to the workers would escape).
type kvAttnJob struct {
	out, q, k, v []float32
	sh           KVAttnShape
	items, parts int
	wg           sync.WaitGroup
}

var kvAttnPool = sync.Pool{New: func() any { return new(kvAttnJob) }}

func (j *kvAttnJob) run(part int) {
	sh := &j.sh
	q, k, v, out := j.q, j.k, j.v, j.out
	NH, KVH, HD := sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, sh.ldk()
	group := NH / KVH
	scale := sh.scale()
	sb := getScratch(sh.Past + sh.T)
	defer putScratch(sb)
	lo, hi := split(j.items, j.parts, part)
	for it := lo; it < hi; it++ {
		i, g := it/KVH, it%KVH
		k0, k1 := sh.keyRange(i)
		sc := (*sb)[:k1-k0]
		for h := g * group; h < (g+1)*group; h++ {
			qr := q[i*ldq+h*HD : i*ldq+h*HD+HD]
			m := float32(math.Inf(-1))
			for jj := k0; jj < k1; jj++ {
				x := scale * dotVec(qr, k[jj*ldk+g*HD:jj*ldk+g*HD+HD])
				sc[jj-k0] = x
				m = max(m, x)
			}
			z := expAffine(sc, sc, 1, -m)
			or := out[i*ldq+h*HD : i*ldq+h*HD+HD]
			clear(or)
			for jj := k0; jj < k1; jj++ {
				axpyVec(sc[jj-k0], v[jj*ldk+g*HD:jj*ldk+g*HD+HD], or)
			}
			inv := 1 / z
			for d := range or {
				or[d] *= inv
			}
		}
	}
}

// kvBlockMin is the query count from which AttentionKVForward computes
// score blocks with Sgemm (a long extension of a cached sequence, such as a
// second chat turn) instead of one dot product per key.
const kvBlockMin = 16

// attentionKVBlocked: for each head and block of attnBQ queries, the scores
// against every key the block may see come from one Sgemm, are masked and
// normalised row by row, and multiply V in a second Sgemm.
func attentionKVBlocked(out, q, k, v []float32, sh KVAttnShape) {
	T, NH, KVH, HD := sh.T, sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, sh.ldk()
	group := NH / KVH
	scale := sh.scale()
	nqb := (T + attnBQ - 1) / attnBQ
	ParallelFor(NH*nqb, 1, func(lo, hi int) {
		for it := lo; it < hi; it++ {
			h, qb := it/nqb, it%nqb
			g := h / group
			q0 := qb * attnBQ
			q1 := min(q0+attnBQ, T)
			nq := q1 - q0
			k0, _ := sh.keyRange(q0)
			_, k1 := sh.keyRange(q1 - 1)
			nk := k1 - k0
			sb := getScratch(nq * nk)
			sc := *sb
			// sc (nq, nk) = scale · Q_blk · K[k0:k1]ᵀ
			Sgemm(false, true, nq, nk, HD, scale, q[q0*ldq+h*HD:], ldq, k[k0*ldk+g*HD:], ldk, 0, sc, nk)
			ninf := float32(math.Inf(-1))
			for i := 0; i < nq; i++ {
				row := sc[i*nk : (i+1)*nk]
				a, b := sh.keyRange(q0 + i)
				for j := range row {
					if kj := k0 + j; kj < a || kj >= b {
						row[j] = ninf
					}
				}
				softmaxRow(row, row)
			}
			// O_blk = P · V[k0:k1]
			Sgemm(false, false, nq, HD, nk, 1, sc, nk, v[k0*ldk+g*HD:], ldk, 0, out[q0*ldq+h*HD:], ldq)
			putScratch(sb)
		}
	})
}

// AttentionKVRef is the plain reference for AttentionKVForward, in float64.
func AttentionKVRef(out, q, k, v []float32, sh KVAttnShape) {
	T, NH, KVH, HD := sh.T, sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, sh.ldk()
	scale := float64(sh.scale())
	for i := 0; i < T; i++ {
		k0, k1 := sh.keyRange(i)
		for h := 0; h < NH; h++ {
			g := h / (NH / KVH)
			sc := make([]float64, k1-k0)
			m := math.Inf(-1)
			for j := k0; j < k1; j++ {
				var s float64
				for d := 0; d < HD; d++ {
					s += float64(q[i*ldq+h*HD+d]) * float64(k[j*ldk+g*HD+d])
				}
				sc[j-k0] = s * scale
				m = math.Max(m, sc[j-k0])
			}
			var z float64
			for j := range sc {
				sc[j] = math.Exp(sc[j] - m)
				z += sc[j]
			}
			for d := 0; d < HD; d++ {
				var o float64
				for j := k0; j < k1; j++ {
					o += sc[j-k0] * float64(v[j*ldk+g*HD+d])
				}
				out[i*ldq+h*HD+d] = float32(o / z)
			}
		}
	}
}
