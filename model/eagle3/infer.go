package eagle3

import (
	"fmt"
	"math"

	"github.com/speculators-go/speculators/tensor"
)

// Drafter runs the draft for speculative decoding, one sequence at a time,
// with its own KV cache (post-norm, post-RoPE keys per layer). A position
// enters the cache either from the verifier (Extend: token x_{t+1} with the
// fused aux hidden states g_t, as in TTT step 0) or from the draft itself
// (Step: a drafted token with the draft's previous hidden state, as in TTT
// steps ≥ 1). Attention is causal over the cache, with the layer's sliding
// window. Truncate drops rejected positions. A Drafter belongs to one
// goroutine; its outputs are valid until the next call.
type Drafter struct {
	m            *Model
	maxLen, maxN int
	n            int         // cached positions
	kc, vc       [][]float32 // per layer (maxLen, Hkv)
	h, fcIn, x   []float32   // (maxN, H), (maxN, A·H), (maxN, H)
	xin          []float32   // (maxN, 2H)
	q, qr, o, t1 []float32   // (maxN, Hq) / (maxN, H)
	kr           []float32   // (maxN, Hkv)
	rstd, rstd2  []float32   // (maxN·max(NH, A))
	g, u         []float32   // (maxN, I)
	cos, sin     []float32   // (maxN, HD/2)
	pos          []int32     // (maxN)
	hid, logits  []float32   // (maxN, H), (maxN, Vd)
	scores       [][]float32 // per worker (maxLen)
	emb          []float32   // (maxN, H)
	idsBuf       []int32
	bf16         map[*float32][]uint16 // bfloat16 copies of bf16-exact weights, by &w[0]
}

// NewDrafter allocates a drafter for sequences of up to maxLen cached
// positions, processing up to maxN positions per call.
func (m *Model) NewDrafter(maxLen, maxN int) *Drafter {
	if maxN <= 0 {
		maxN = 1
	}
	H, AH, Hq, Hkv := m.H, m.A*m.H, m.NH*m.HD, m.KVH*m.HD
	f := func(n int) []float32 { return make([]float32, n) }
	d := &Drafter{m: m, maxLen: maxLen, maxN: maxN,
		h: f(maxN * H), fcIn: f(maxN * AH), x: f(maxN * H), xin: f(maxN * 2 * H), q: f(maxN * Hq), qr: f(maxN * Hq),
		o: f(maxN * Hq), t1: f(maxN * H), kr: f(maxN * Hkv), rstd: f(maxN * max(m.NH, m.A)), rstd2: f(maxN * max(m.NH, m.A)),
		g: f(maxN * m.I), u: f(maxN * m.I), cos: f(maxN * m.HD / 2), sin: f(maxN * m.HD / 2), pos: make([]int32, maxN),
		hid: f(maxN * H), logits: f(maxN * m.Vd), emb: f(maxN * H), idsBuf: make([]int32, maxN)}
	for range m.L {
		d.kc = append(d.kc, f(maxLen*Hkv))
		d.vc = append(d.vc, f(maxLen*Hkv))
	}
	for range tensor.Workers() {
		d.scores = append(d.scores, f(maxLen))
	}
	d.bf16 = bf16Copies(m)
	return d
}

// bf16Copies returns bfloat16 copies of the linear weights whose values
// are all bfloat16 numbers (a draft loaded from a bf16 checkpoint): the
// few-row kernels stream half the bytes and, widening exactly, give the
// float32 results bit for bit. The copies are taken when the drafter is
// made; a drafter sees later weight updates only for weights kept float32,
// so make drafters after training.
func bf16Copies(m *Model) map[*float32][]uint16 {
	ws := [][]float32{m.FC.W, m.LMHead}
	for _, ly := range m.Layers {
		ws = append(ws, ly.Q.W, ly.K.W, ly.V.W, ly.O.W, ly.Gate.W, ly.Up.W, ly.Down.W)
	}
	cp := make(map[*float32][]uint16)
	for _, w := range ws {
		if len(w) == 0 {
			continue
		}
		b := make([]uint16, len(w))
		exact := true
		for i, v := range w {
			u := math.Float32bits(v)
			if u&0xffff != 0 {
				exact = false
				break
			}
			b[i] = uint16(u >> 16)
		}
		if exact {
			cp[&w[0]] = b
		}
	}
	return cp
}

// linear is tensor.LinearAuto on w, or on its bfloat16 copy when it has one.
// x (n, in); w (out, in); b (out) or nil; y (n, out).
func (d *Drafter) linear(y, x, w, b []float32, n, in, out int) {
	if len(w) > 0 {
		if wb, ok := d.bf16[&w[0]]; ok {
			tensor.LinearBF16Forward(y, x, wb, b, n, in, out)
			return
		}
	}
	tensor.LinearAuto(y, x, w, b, n, in, out)
}

// Len is the number of cached positions.
func (d *Drafter) Len() int { return d.n }

// Truncate keeps the first n cached positions (rejected drafts are dropped).
func (d *Drafter) Truncate(n int) {
	if n < 0 || n > d.n {
		panic(fmt.Sprintf("eagle3: Truncate(%d) with %d cached positions", n, d.n))
	}
	d.n = n
}

// Reset empties the cache.
func (d *Drafter) Reset() { d.n = 0 }

// Extend appends len(ids) positions from the verifier: ids[i] is the token
// x_{t+1}, aux row i the verifier's aux hidden states g_t (A·H values, in
// the config's layer order) and pos0+i its position id (t+1). It returns the
// hidden states to feed to Step (len(ids), H) and the draft logits
// (len(ids), Vd); the last row drafts the next token.
func (d *Drafter) Extend(ids []int32, aux []float32, pos0 int) (hidden, logits []float32, err error) {
	return d.extend(ids, aux, pos0, false)
}

// ExtendLast is Extend returning only the last position's hidden state (H)
// and logits (Vd), which is all a speculative round drafts from. It skips
// the other positions' queries, MLP and head in the last layer (their keys
// and values still enter the cache), so re-entering the accepted tokens
// costs little more than one Step.
func (d *Drafter) ExtendLast(ids []int32, aux []float32, pos0 int) (hidden, logits []float32, err error) {
	return d.extend(ids, aux, pos0, true)
}

func (d *Drafter) extend(ids []int32, aux []float32, pos0 int, lastOnly bool) (hidden, logits []float32, err error) {
	m := d.m
	n := len(ids)
	if len(aux) != n*m.A*m.H {
		return nil, nil, fmt.Errorf("eagle3: Extend: %d aux values for %d positions, want %d", len(aux), n, n*m.A*m.H)
	}
	if err := d.check(ids, pos0); err != nil {
		return nil, nil, err
	}
	AH := m.A * m.H
	fcX := aux
	switch {
	case m.InputNorm != nil:
		tensor.RMSNormForward(d.fcIn, d.rstd, aux, m.InputNorm.W, n, AH, m.Eps)
		fcX = d.fcIn[:n*AH]
	case m.FCNorms != nil:
		for i, p := range m.FCNorms {
			gatherCols(d.t1, aux, AH, i*m.H, n, m.H)
			tensor.RMSNormForward(d.x, d.rstd, d.t1, p.W, n, m.H, m.Eps)
			scatterCols(d.fcIn, AH, i*m.H, d.x, n, m.H)
		}
		fcX = d.fcIn[:n*AH]
	}
	d.linear(d.h, fcX, m.FC.W, nil, n, AH, m.H)
	return d.run(ids, d.h[:n*m.H], pos0, lastOnly)
}

// Step appends one drafted position: token id (verifier vocabulary) with
// the hidden state the previous call returned for the position before it,
// at position pos. It returns the new hidden state (H) and logits (Vd).
func (d *Drafter) Step(id int32, hidden []float32, pos int) (hOut, logits []float32, err error) {
	m := d.m
	if len(hidden) != m.H {
		return nil, nil, fmt.Errorf("eagle3: Step: hidden state has %d values, want %d", len(hidden), m.H)
	}
	d.idsBuf[0] = id
	if err := d.check(d.idsBuf[:1], pos); err != nil {
		return nil, nil, err
	}
	copy(d.h[:m.H], hidden)
	return d.run(d.idsBuf[:1], d.h[:m.H], pos, false)
}

func (d *Drafter) check(ids []int32, pos0 int) error {
	n := len(ids)
	if n == 0 || n > d.maxN {
		return fmt.Errorf("eagle3: %d positions per call (1..%d)", n, d.maxN)
	}
	if d.n+n > d.maxLen {
		return fmt.Errorf("eagle3: cache full (%d + %d > %d positions)", d.n, n, d.maxLen)
	}
	if pos0 < 0 || pos0+n > math.MaxInt32 {
		return fmt.Errorf("eagle3: bad position %d", pos0)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= d.m.V {
			return fmt.Errorf("eagle3: token id %d at %d outside the vocabulary of %d", id, i, d.m.V)
		}
	}
	return nil
}

// ArgmaxTarget returns the verifier token id of the most likely draft token
// of a logits row.
func (m *Model) ArgmaxTarget(logits []float32) int32 {
	best := 0
	for j, v := range logits[:m.Vd] {
		if v > logits[best] {
			best = j
		}
	}
	return int32(m.DraftToTarget(best))
}

// run pushes n positions with hidden inputs h (n, H) through the layers;
// with lastOnly it returns the last position's outputs alone.
func (d *Drafter) run(ids []int32, h []float32, pos0 int, lastOnly bool) ([]float32, []float32, error) {
	m := d.m
	n, H := len(ids), m.H
	Hq, Hkv := m.NH*m.HD, m.KVH*m.HD
	for i := range n {
		d.pos[i] = int32(pos0 + i)
	}
	if err := tensor.EmbeddingForward(d.emb, m.Embed.W, ids, m.V, H); err != nil {
		return nil, nil, fmt.Errorf("eagle3: %w", err)
	}
	tensor.RoPETables(d.cos, d.sin, d.pos[:n], m.invFreq, m.ropeScale)
	x := d.x[:n*H]
	for li, ly := range m.Layers {
		res := d.t1[:n*H]
		if li == 0 {
			tensor.RMSNormForward(d.hid, d.rstd, d.emb, ly.InputLN.W, n, H, m.Eps)
			scatterCols(d.xin, 2*H, 0, d.hid, n, H)
			tensor.RMSNormForward(d.hid, d.rstd, h, ly.HiddenNorm.W, n, H, m.Eps)
			scatterCols(d.xin, 2*H, H, d.hid, n, H)
			if m.NormBeforeResidual {
				copy(res, d.hid[:n*H])
			} else {
				copy(res, h[:n*H])
			}
		} else {
			copy(res, x)
			tensor.RMSNormForward(d.xin, d.rstd, x, ly.InputLN.W, n, H, m.Eps)
		}
		in := ly.In
		kc := d.kc[li][d.n*Hkv : (d.n+n)*Hkv]
		vc := d.vc[li][d.n*Hkv : (d.n+n)*Hkv]
		// Every row enters the cache; with lastOnly the last layer's
		// queries, MLP and head run for the last row alone (r0..n-1).
		r0 := 0
		if lastOnly && li == len(m.Layers)-1 {
			r0 = n - 1
		}
		nr := n - r0
		if ly.QNorm != nil {
			d.linear(d.qr[r0*Hq:], d.xin[r0*in:], ly.Q.W, wOf(ly.QB), nr, in, Hq)
			d.linear(d.kr, d.xin, ly.K.W, wOf(ly.KB), n, in, Hkv)
			tensor.RMSNormForward(d.q[r0*Hq:], d.rstd, d.qr[r0*Hq:], ly.QNorm.W, nr*m.NH, m.HD, m.Eps)
			tensor.RMSNormForward(kc, d.rstd2, d.kr, ly.KNorm.W, n*m.KVH, m.HD, m.Eps)
		} else {
			d.linear(d.q[r0*Hq:], d.xin[r0*in:], ly.Q.W, wOf(ly.QB), nr, in, Hq)
			d.linear(kc, d.xin, ly.K.W, wOf(ly.KB), n, in, Hkv)
		}
		d.linear(vc, d.xin, ly.V.W, wOf(ly.VB), n, in, Hkv)
		half := m.HD / 2
		tensor.RoPEForward(d.q[r0*Hq:], d.cos[r0*half:], d.sin[r0*half:], nr, m.NH, m.HD, m.HD)
		tensor.RoPEForward(kc, d.cos, d.sin, n, m.KVH, m.HD, m.HD)
		d.attend(li, r0, n, ly.Window)
		xr, rr := x[r0*H:], res[r0*H:]
		d.linear(xr, d.o[r0*Hq:], ly.O.W, wOf(ly.OB), nr, Hq, H)
		addTo(xr, rr)
		copy(rr, xr)
		tensor.RMSNormForward(d.hid[r0*H:], d.rstd, xr, ly.PostLN.W, nr, H, m.Eps)
		g, u := d.g[r0*m.I:n*m.I], d.u[r0*m.I:n*m.I]
		d.linear(g, d.hid[r0*H:], ly.Gate.W, wOf(ly.GateB), nr, H, m.I)
		d.linear(u, d.hid[r0*H:], ly.Up.W, wOf(ly.UpB), nr, H, m.I)
		tensor.SiLUGateForward(g, g, u)
		d.linear(xr, g, ly.Down.W, wOf(ly.DownB), nr, m.I, H)
		addTo(xr, rr)
	}
	d.n += n
	r0 := 0
	if lastOnly {
		r0 = n - 1
	}
	nr := n - r0
	hid := d.hid[r0*H : n*H]
	lmIn := hid
	xr := x[r0*H:]
	tensor.RMSNormForward(hid, d.rstd, xr, m.Norm.W, nr, H, m.Eps)
	if !m.NormOutput {
		lmIn = d.t1[r0*H : n*H]
		copy(lmIn, hid)
		copy(hid, xr)
	}
	d.linear(d.logits[r0*m.Vd:], lmIn, m.LMHead, nil, nr, H, m.Vd)
	return hid, d.logits[r0*m.Vd : n*m.Vd], nil
}

// attend computes rows r0..n−1 of d.o for the n newest cache positions of
// layer li: causal attention over the cache, keys within the sliding window.
func (d *Drafter) attend(li, r0, n, window int) {
	m := d.m
	lo, items := r0*m.NH, (n-r0)*m.NH
	// A draft step attends over a few hundred keys: run it here unless the
	// work covers a goroutine hand-off (the closure below allocates).
	if work := items * (d.n + n) * m.HD; work < attendSerialWork || len(d.scores) < 2 {
		d.attendRange(li, n, window, d.scores[0], lo, lo+items)
		return
	}
	tensor.ParallelChunks(items, len(d.scores), func(w, a, b int) {
		d.attendRange(li, n, window, d.scores[w], lo+a, lo+b)
	})
}

// attendSerialWork is the multiply-add count below which attend runs on
// the calling goroutine (a variable so tests can force either path).
var attendSerialWork = 1 << 16

// attendRange computes the (query, head) items [lo, hi) of attend with
// score scratch sc.
func (d *Drafter) attendRange(li, n, window int, sc []float32, lo, hi int) {
	m := d.m
	Hq, Hkv, HD := m.NH*m.HD, m.KVH*m.HD, m.HD
	group := m.NH / m.KVH
	scale := float32(1 / math.Sqrt(float64(HD)))
	kc, vc := d.kc[li], d.vc[li]
	base := d.n
	for it := lo; it < hi; it++ {
		i, hh := it/m.NH, it%m.NH
		g := hh / group
		c := base + i // this query's cache index
		k0 := 0
		if window > 0 && c-window+1 > 0 {
			k0 = c - window + 1
		}
		q := d.q[i*Hq+hh*HD : i*Hq+hh*HD+HD]
		mx := float32(math.Inf(-1))
		for j := k0; j <= c; j++ {
			k := kc[j*Hkv+g*HD : j*Hkv+g*HD+HD]
			var s float32
			for t := range q {
				s += q[t] * k[t]
			}
			s *= scale
			sc[j] = s
			mx = max(mx, s)
		}
		var sum float32
		for j := k0; j <= c; j++ {
			e := float32(math.Exp(float64(sc[j] - mx)))
			sc[j] = e
			sum += e
		}
		o := d.o[i*Hq+hh*HD : i*Hq+hh*HD+HD]
		clear(o)
		inv := 1 / sum
		for j := k0; j <= c; j++ {
			p := sc[j] * inv
			v := vc[j*Hkv+g*HD : j*Hkv+g*HD+HD]
			for t := range o {
				o[t] += p * v[t]
			}
		}
	}
}
