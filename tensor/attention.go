package tensor

import (
	"math"
)

// Attention for packed sequences, flash style: queries are processed in
// blocks of attnBQ rows and keys in blocks of attnBK, with an online softmax,
// so memory is one attnBQ×attnBK score block per goroutine instead of T×T per
// head. The backward recomputes each score block from the saved logsumexp.
//
// The mask is that of the EAGLE-3 draft (training-spec §5.4). The T queries
// are the current TTT step's tokens; the S = steps·T keys are those of steps
// 0..steps-1. Query q may see key kv when
//
//	(A) kv < T, kv ≤ q, doc[q] ≠ −1, doc[kv] = doc[q] and, with a window W > 0, kv > q − W;
//	(B) kv mod T = q (its own slot at every TTT step: the diagonal).
//
// With S = T this is plain causal, document-masked (sliding-window) attention.

// Block sizes (variables so tests can shrink them to cover many blocks).
var (
	attnBQ = 128 // query rows per block
	attnBK = 128 // keys per block
)

// AttnShape gives the sizes of one attention call. Q and the output are
// (T, NH, HD); K and V are (S, KVH, HD) with S a multiple of T.
type AttnShape struct {
	T, S        int     // queries, keys
	NH, KVH, HD int     // query heads, key/value heads (NH % KVH == 0), head dim
	Scale       float32 // score scale; 0 means 1/sqrt(HD)
	Window      int     // sliding window; 0 means none
	Doc         []int32 // (T) document id per position, −1 for padding; nil means one document
}

func (s *AttnShape) scale() float32 {
	if s.Scale != 0 {
		return s.Scale
	}
	return float32(1 / math.Sqrt(float64(s.HD)))
}

func (s *AttnShape) check(q, k, v, o []float32) {
	if s.T <= 0 || s.S < s.T || s.S%s.T != 0 || s.KVH <= 0 || s.NH%s.KVH != 0 || s.HD <= 0 {
		panic("tensor: bad attention shape")
	}
	if len(q) < s.T*s.NH*s.HD || len(o) < s.T*s.NH*s.HD || len(k) < s.S*s.KVH*s.HD || len(v) < s.S*s.KVH*s.HD {
		panic("tensor: attention buffer too short")
	}
	if s.Doc != nil && len(s.Doc) != s.T {
		panic("tensor: attention doc ids must have length T")
	}
}

// allowed reports whether query q sees key kv < T (rule A or the diagonal).
func (s *AttnShape) allowed(q, kv int) bool {
	if kv == q {
		return true
	}
	if kv > q || (s.Window > 0 && kv <= q-s.Window) {
		return false
	}
	if s.Doc == nil {
		return true
	}
	d := s.Doc[q]
	return d != -1 && s.Doc[kv] == d
}

// keyStart returns, for a block of queries [q0, q1), the first key < T any of
// them may see under rule A, so fully masked key blocks are skipped. start
// holds for each position the first index of its document run.
func (s *AttnShape) keyStart(q0, q1 int, start []int32) int {
	lo := q0
	for q := q0; q < q1; q++ {
		l := 0
		if start != nil {
			l = int(start[q])
		}
		if s.Window > 0 && q-s.Window+1 > l {
			l = q - s.Window + 1
		}
		if s.Doc != nil && s.Doc[q] == -1 {
			l = q
		}
		lo = min(lo, l)
	}
	return lo
}

// rowRange returns the keys [lo, q] query q may see under rule A when they
// form one interval: documents are contiguous runs (start != nil) or absent.
// ok is false when the mask must be tested key by key.
func (s *AttnShape) rowRange(q int, start []int32) (lo int, ok bool) {
	if s.Doc != nil {
		if start == nil {
			return 0, false
		}
		if s.Doc[q] == -1 {
			return q, true
		}
		lo = int(start[q])
	}
	if s.Window > 0 && q-s.Window+1 > lo {
		lo = q - s.Window + 1
	}
	return lo, true
}

// maskRow sets row[j] = −Inf for the keys k0+j that query q may not see
// (rule A and the diagonal) and, when wantMax, returns the max of the rest
// (−Inf if none).
func (s *AttnShape) maskRow(row []float32, q, k0 int, start []int32, wantMax bool) float32 {
	ninf := float32(math.Inf(-1))
	rmax := ninf
	if lo, ok := s.rowRange(q, start); ok {
		// Visible: k0+j in [lo, q].
		a := min(max(lo-k0, 0), len(row))
		b := min(max(q-k0+1, 0), len(row))
		if a > b {
			a = b
		}
		for j := range row[:a] {
			row[j] = ninf
		}
		if a < b && wantMax {
			rmax = maxOf(row[a:b])
		}
		for j := b; j < len(row); j++ {
			row[j] = ninf
		}
		return rmax
	}
	for j := range row {
		if s.allowed(q, k0+j) {
			if row[j] > rmax {
				rmax = row[j]
			}
		} else {
			row[j] = ninf
		}
	}
	return rmax
}

// DocIDsFromPositions labels the documents of a packed row from its
// position ids: a new document starts wherever a position does not continue
// the previous one (pos[i] ≠ pos[i−1] + 1), so [0 1 0 1 2] gives [0 0 1 1 1]
// and shifted rows starting at 1 work too. Padding cannot be told from
// positions; callers set those entries to −1 afterwards. doc (T), pos (T).
func DocIDsFromPositions(doc, pos []int32) {
	d := int32(0)
	for i, p := range pos {
		if i > 0 && p != pos[i-1]+1 {
			d++
		}
		doc[i] = d
	}
}

// docStarts fills start[q] with the first index of the run of equal document
// ids that contains q, when non-padding ids never decrease (packed
// sequences); otherwise (ids reused out of order) it returns nil and no key
// block is skipped for documents, which is slower but still exact.
func docStarts(doc []int32, start []int32) []int32 {
	if doc == nil {
		return nil
	}
	maxSeen := int32(-1)
	for i, d := range doc {
		if i > 0 && d == doc[i-1] {
			start[i] = start[i-1]
			continue
		}
		if d != -1 {
			if d <= maxSeen {
				return nil
			}
			maxSeen = d
		}
		start[i] = int32(i)
	}
	return start
}

// AttentionForward computes out = softmax(scale·q·kᵀ + mask)·v for each head
// and saves lse, the logsumexp of each query's scores, for the backward.
// q, out (T, NH, HD); k, v (S, KVH, HD); lse (NH, T).
func AttentionForward(out, lse, q, k, v []float32, sh AttnShape) {
	sh.check(q, k, v, out)
	T, NH, KVH, HD := sh.T, sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, KVH*HD
	scale := sh.scale()
	startBuf := getInt32Scratch(T)
	start := docStarts(sh.Doc, *startBuf)
	nqb := (T + attnBQ - 1) / attnBQ
	ParallelFor(NH*nqb, 1, func(lo, hi int) {
		sb := getScratch(attnBQ*attnBK + 2*attnBQ)
		defer putScratch(sb)
		sc := (*sb)[:attnBQ*attnBK]
		m := (*sb)[attnBQ*attnBK : attnBQ*attnBK+attnBQ]
		l := (*sb)[attnBQ*attnBK+attnBQ:]
		for it := lo; it < hi; it++ {
			h, qb := it/nqb, it%nqb
			g := h / (NH / KVH)
			q0 := qb * attnBQ
			q1 := min(q0+attnBQ, T)
			nq := q1 - q0
			for i := 0; i < nq; i++ {
				m[i] = float32(math.Inf(-1))
				l[i] = 0
				clear(out[(q0+i)*ldq+h*HD : (q0+i)*ldq+h*HD+HD])
			}
			qBlk := q[q0*ldq+h*HD:]
			oBlk := out[q0*ldq+h*HD:]
			for k0 := sh.keyStart(q0, q1, start); k0 < q1; k0 += attnBK {
				k1 := min(k0+attnBK, q1)
				nk := k1 - k0
				// sc (nq, nk) = scale · Q_blk · K_blkᵀ
				Sgemm(false, true, nq, nk, HD, scale, qBlk, ldq, k[k0*ldk+g*HD:], ldk, 0, sc, nk)
				for i := 0; i < nq; i++ {
					qi := q0 + i
					row := sc[i*nk : (i+1)*nk]
					rmax := sh.maskRow(row, qi, k0, start, true)
					if math.IsInf(float64(rmax), -1) {
						clear(row)
						continue
					}
					mNew := max(m[i], rmax)
					corr := expf(m[i] - mNew)
					rs := expAffine(row, row, 1, -mNew) // masked −Inf → 0
					l[i] = l[i]*corr + rs
					m[i] = mNew
					if corr != 1 {
						orow := oBlk[i*ldq : i*ldq+HD]
						for d := range orow {
							orow[d] *= corr
						}
					}
				}
				// O_blk += P · V_blk
				Sgemm(false, false, nq, HD, nk, 1, sc, nk, v[k0*ldk+g*HD:], ldk, 1, oBlk, ldq)
			}
			// Rule B for keys of later TTT steps: one key per query and step.
			for st := 1; st < sh.S/T; st++ {
				for i := 0; i < nq; i++ {
					kv := st*T + q0 + i
					qrow := qBlk[i*ldq : i*ldq+HD]
					x := scale * dot(qrow, k[kv*ldk+g*HD:kv*ldk+g*HD+HD])
					mNew := max(m[i], x)
					corr, e := expf(m[i]-mNew), expf(x-mNew)
					orow := oBlk[i*ldq : i*ldq+HD]
					vrow := v[kv*ldk+g*HD : kv*ldk+g*HD+HD]
					for d := range orow {
						orow[d] = orow[d]*corr + e*vrow[d]
					}
					l[i] = l[i]*corr + e
					m[i] = mNew
				}
			}
			for i := 0; i < nq; i++ {
				inv := 1 / l[i]
				orow := oBlk[i*ldq : i*ldq+HD]
				for d := range orow {
					orow[d] *= inv
				}
				lse[h*T+q0+i] = m[i] + logf(l[i])
			}
		}
	})
	putInt32Scratch(startBuf)
}

// AttentionBackward accumulates dq, dk and dv from dout, recomputing the
// probabilities block by block as exp(scale·q·kᵀ − lse). Goroutines split
// the key/value heads, so each owns its dk, dv and its group's dq.
// dout, out, q, dq (T, NH, HD); k, v, dk, dv (S, KVH, HD); lse (NH, T).
func AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v []float32, sh AttnShape) {
	sh.check(q, k, v, out)
	T, NH, KVH, HD := sh.T, sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, KVH*HD
	group := NH / KVH
	scale := sh.scale()
	startBuf := getInt32Scratch(T)
	start := docStarts(sh.Doc, *startBuf)
	// delta[h, t] = Σ_d dout·out, the softmax-backward row term.
	db := getScratch(NH * T)
	delta := *db
	ParallelFor(T, rowGrain(NH*HD), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			for h := 0; h < NH; h++ {
				o := t*ldq + h*HD
				delta[h*T+t] = dot(dout[o:o+HD], out[o:o+HD])
			}
		}
	})
	ParallelFor(KVH, 1, func(lo, hi int) {
		sb := getScratch(2 * attnBQ * attnBK)
		defer putScratch(sb)
		p := (*sb)[:attnBQ*attnBK]
		dp := (*sb)[attnBQ*attnBK:]
		for g := lo; g < hi; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				for q0 := 0; q0 < T; q0 += attnBQ {
					q1 := min(q0+attnBQ, T)
					nq := q1 - q0
					qBlk, dqBlk, doBlk := q[q0*ldq+h*HD:], dq[q0*ldq+h*HD:], dout[q0*ldq+h*HD:]
					for k0 := sh.keyStart(q0, q1, start); k0 < q1; k0 += attnBK {
						k1 := min(k0+attnBK, q1)
						nk := k1 - k0
						kBlk, vBlk := k[k0*ldk+g*HD:], v[k0*ldk+g*HD:]
						Sgemm(false, true, nq, nk, HD, scale, qBlk, ldq, kBlk, ldk, 0, p, nk)
						// dp (nq, nk) = dO_blk · V_blkᵀ
						Sgemm(false, true, nq, nk, HD, 1, doBlk, ldq, vBlk, ldk, 0, dp, nk)
						for i := 0; i < nq; i++ {
							qi := q0 + i
							L, D := lse[h*T+qi], delta[h*T+qi]
							pr, dpr := p[i*nk:(i+1)*nk], dp[i*nk:(i+1)*nk]
							sh.maskRow(pr, qi, k0, start, false)
							expAffine(pr, pr, 1, -L) // P; masked −Inf → 0
							for j, e := range pr {
								dpr[j] = e * (dpr[j] - D) * scale // dS·scale
							}
						}
						// dV_blk += Pᵀ·dO_blk; dQ_blk += dS·K_blk; dK_blk += dSᵀ·Q_blk
						Sgemm(true, false, nk, HD, nq, 1, p, nk, doBlk, ldq, 1, dv[k0*ldk+g*HD:], ldk)
						Sgemm(false, false, nq, HD, nk, 1, dp, nk, kBlk, ldk, 1, dqBlk, ldq)
						Sgemm(true, false, nk, HD, nq, 1, dp, nk, qBlk, ldq, 1, dk[k0*ldk+g*HD:], ldk)
					}
					for st := 1; st < sh.S/T; st++ {
						for i := 0; i < nq; i++ {
							qi := q0 + i
							kv := st*T + qi
							qrow, dqrow, dorow := qBlk[i*ldq:i*ldq+HD], dqBlk[i*ldq:i*ldq+HD], doBlk[i*ldq:i*ldq+HD]
							krow, vrow := k[kv*ldk+g*HD:kv*ldk+g*HD+HD], v[kv*ldk+g*HD:kv*ldk+g*HD+HD]
							e := expf(scale*dot(qrow, krow) - lse[h*T+qi])
							ds := e * (dot(dorow, vrow) - delta[h*T+qi]) * scale
							axpy(e, dorow, dv[kv*ldk+g*HD:kv*ldk+g*HD+HD])
							axpy(ds, krow, dqrow)
							axpy(ds, qrow, dk[kv*ldk+g*HD:kv*ldk+g*HD+HD])
						}
					}
				}
			}
		}
	})
	putScratch(db)
	putInt32Scratch(startBuf)
}

// AttentionRef is the plain reference: a dense (T, S) masked softmax per head
// in float64. It returns the probabilities (NH, T, S) for use in tests.
func AttentionRef(out, q, k, v []float32, sh AttnShape) (probs []float64) {
	T, S, NH, KVH, HD := sh.T, sh.S, sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, KVH*HD
	scale := float64(sh.scale())
	probs = make([]float64, NH*T*S)
	for h := 0; h < NH; h++ {
		g := h / (NH / KVH)
		for qi := 0; qi < T; qi++ {
			row := probs[(h*T+qi)*S : (h*T+qi+1)*S]
			m := math.Inf(-1)
			for kv := 0; kv < S; kv++ {
				ok := kv%T == qi || (kv < T && sh.allowed(qi, kv))
				if !ok {
					row[kv] = math.Inf(-1)
					continue
				}
				var s float64
				for d := 0; d < HD; d++ {
					s += float64(q[qi*ldq+h*HD+d]) * float64(k[kv*ldk+g*HD+d])
				}
				row[kv] = s * scale
				m = math.Max(m, row[kv])
			}
			var z float64
			for kv := range row {
				row[kv] = math.Exp(row[kv] - m)
				z += row[kv]
			}
			for d := 0; d < HD; d++ {
				var o float64
				for kv := range row {
					o += row[kv] / z * float64(v[kv*ldk+g*HD+d])
				}
				out[qi*ldq+h*HD+d] = float32(o)
			}
			for kv := range row {
				row[kv] /= z
			}
		}
	}
	return probs
}

// AttentionBackwardRef is the plain reference backward from dense probabilities.
func AttentionBackwardRef(dq, dk, dv, dout, q, k, v []float32, sh AttnShape) {
	T, S, NH, KVH, HD := sh.T, sh.S, sh.NH, sh.KVH, sh.HD
	ldq, ldk := NH*HD, KVH*HD
	scale := float64(sh.scale())
	tmp := make([]float32, T*NH*HD)
	probs := AttentionRef(tmp, q, k, v, sh)
	for h := 0; h < NH; h++ {
		g := h / (NH / KVH)
		for qi := 0; qi < T; qi++ {
			p := probs[(h*T+qi)*S : (h*T+qi+1)*S]
			dp := make([]float64, S)
			var D float64
			for kv := 0; kv < S; kv++ {
				for d := 0; d < HD; d++ {
					dp[kv] += float64(dout[qi*ldq+h*HD+d]) * float64(v[kv*ldk+g*HD+d])
				}
				D += p[kv] * dp[kv]
			}
			for kv := 0; kv < S; kv++ {
				ds := p[kv] * (dp[kv] - D) * scale
				for d := 0; d < HD; d++ {
					dv[kv*ldk+g*HD+d] += float32(p[kv] * float64(dout[qi*ldq+h*HD+d]))
					dq[qi*ldq+h*HD+d] += float32(ds * float64(k[kv*ldk+g*HD+d]))
					dk[kv*ldk+g*HD+d] += float32(ds * float64(q[qi*ldq+h*HD+d]))
				}
			}
		}
	}
}

var int32Pool = syncPoolInt32()
