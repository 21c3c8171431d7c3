package eagle3

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/speculators-go/speculators/tensor"
)

// StepOptions configures one Forward call.
type StepOptions struct {
	TTTSteps  int        // K; 0 means the config's speculative_tokens (3 by default)
	StepDecay float64    // γ of ttt_step_loss_decay; 0 means 1
	Loss      []LossTerm // nil means kl_div
	Eta       float32    // lk_hybrid η; 0 means 3
	// Grad prepares the gradients of the loss for Backward (training);
	// without it Forward is an evaluation pass.
	Grad bool
	// NoiseStd adds uniform noise U[−std, std) to the aux hidden states of
	// non-padding positions (training-spec §4.2; 0.05 in training, 0 for
	// validation), drawn from a PCG stream seeded by NoiseSeed.
	NoiseStd  float32
	NoiseSeed uint64
}

// layerActs holds what one decoder layer saves at one TTT step.
type layerActs struct {
	xin          []float32 // (T, In) layer 0: [input_ln(e) ; hidden_norm(h)]; else input_ln(x)
	x            []float32 // (T, H) layer input (layers > 0)
	rstdA, rstdB []float32 // (T) input_ln rstd; hidden_norm rstd (layer 0)
	qRaw, kRaw   []float32 // (T, Hq), (T, Hkv) before q/k norm (qwen3)
	qRstd, kRstd []float32 // (T·NH), (T·KVH)
	q            []float32 // (T, Hq) after norm and RoPE
	o            []float32 // (T, Hq) attention output
	lse          []float32 // (NH, T)
	x1, x1n      []float32 // (T, H) after attention residual; post_attention_layernorm of it
	rstd1        []float32 // (T)
	g, u         []float32 // (T, I) gate, up (silu(gate)·up is recomputed in the backward)
	out          []float32 // (T, H)
}

// stepActs holds one TTT step.
type stepActs struct {
	ids      []int32   // (T) ids fed at this step (ground truth shifted left by k)
	draft    []int32   // (T) argmax of the logits
	e        []float32 // (T, H) embedding
	pos      []int32   // (T)
	cos, sin []float32 // (T, HD/2)
	layers   []layerActs
	hOut     []float32 // (T, H) hidden carried to the next step (norm(x) with norm_output, else x)
	nrmRstd  []float32 // (T) rstd of the final norm
	dh       []float32 // (T, H) ∂loss_k/∂(lm_head input)
}

// Workspace holds every buffer of a training step for sequences of up to
// T positions and K TTT steps, so Forward and Backward allocate nothing.
// A workspace belongs to one model and one goroutine.
type Workspace struct {
	m              *Model
	T, K           int
	t, k           int // sizes of the last Forward
	grad           bool
	batch          *Batch
	terms          []LossTerm
	aux            []float32 // (T, A·H) noisy copy
	src            []float32 // aux used (b.Aux or aux)
	fcIn           []float32 // (T, A·H) normalised aux
	fcRstd         []float32 // (A·T)
	h0             []float32 // (T, H)
	verN           []float32 // (T, H)
	verRstd        []float32 // (T)
	tgt            []float32 // (T, Vd) verifier logits
	tgtArg         []int32   // (T)
	logits, dlog   []float32 // (T, Vd)
	prev           []bool    // (T)
	lossWS         []float32 // (2T)
	nrm            []float32 // (T, H) final norm output when !norm_output
	steps          []stepActs
	kc, vc, dk, dv [][]float32 // per layer (K·T, Hkv)
	// backward scratch
	dy, dx1, dx1n, dhNext, dh0, t1, t2, t3 []float32 // (T, H)
	dxin                                   []float32 // (T, 2H)
	dq, dqRaw, do                          []float32 // (T, Hq)
	dkRaw                                  []float32 // (T, Hkv)
	mlpWS                                  []float32 // (4·T·I)
	dfc, dfcRaw                            []float32 // (T, A·H)
	metrics                                Metrics
	rng                                    *rand.Rand
	bytes                                  int64
	pcg                                    *rand.PCG
}

// NewWorkspace allocates the buffers for sequences of up to T positions and
// K TTT steps (K ≤ 0: the config's speculative_tokens).
func (m *Model) NewWorkspace(T, K int) *Workspace {
	if K <= 0 {
		K = m.defaultSteps()
	}
	H, AH, Vd := m.H, m.A*m.H, m.Vd
	Hq, Hkv := m.NH*m.HD, m.KVH*m.HD
	var total int64
	f := func(n int) []float32 { total += 4 * int64(n); return make([]float32, n) }
	ws := &Workspace{m: m, T: T, K: K,
		aux: f(T * AH), fcIn: f(T * AH), fcRstd: f(m.A * T), h0: f(T * H), verN: f(T * H), verRstd: f(T),
		tgt: f(T * Vd), tgtArg: make([]int32, T), logits: f(T * Vd), dlog: f(T * Vd),
		prev: make([]bool, T), lossWS: f(2 * T), nrm: f(T * H),
		dy: f(T * H), dx1: f(T * H), dx1n: f(T * H), dhNext: f(T * H), dh0: f(T * H), t1: f(T * H), t2: f(T * H), t3: f(T * H),
		dxin: f(T * 2 * H), dq: f(T * Hq), dqRaw: f(T * Hq), do: f(T * Hq), dkRaw: f(T * Hkv), mlpWS: f(4 * T * m.I),
		dfc: f(T * AH), dfcRaw: f(T * AH)}
	for range m.L {
		ws.kc = append(ws.kc, f(K*T*Hkv))
		ws.vc = append(ws.vc, f(K*T*Hkv))
		ws.dk = append(ws.dk, f(K*T*Hkv))
		ws.dv = append(ws.dv, f(K*T*Hkv))
	}
	for range K {
		st := stepActs{ids: make([]int32, T), draft: make([]int32, T), e: f(T * H), pos: make([]int32, T), cos: f(T * m.HD / 2), sin: f(T * m.HD / 2),
			hOut: f(T * H), nrmRstd: f(T), dh: f(T * H)}
		for li, ly := range m.Layers {
			la := layerActs{xin: f(T * ly.In), rstdA: f(T), q: f(T * Hq), o: f(T * Hq), lse: f(m.NH * T),
				x1: f(T * H), x1n: f(T * H), rstd1: f(T), g: f(T * m.I), u: f(T * m.I), out: f(T * H)}
			if li == 0 {
				la.rstdB = f(T)
			}
			if ly.QNorm != nil {
				la.qRaw, la.kRaw, la.qRstd, la.kRstd = f(T*Hq), f(T*Hkv), f(T*m.NH), f(T*m.KVH)
			}
			st.layers = append(st.layers, la)
		}
		ws.steps = append(ws.steps, st)
	}
	ws.bytes = total
	ws.metrics.Steps = make([]StepMetrics, K)
	ws.pcg = rand.NewPCG(0, 0)
	ws.rng = rand.New(ws.pcg)
	return ws
}

// Bytes is the memory the workspace's float buffers take (activations of
// all K steps, KV caches, gradients scratch): about
// 4·(K·T·(12H + 2I + …) + 3·T·Vd + …) bytes.
func (ws *Workspace) Bytes() int64 { return ws.bytes }

func (m *Model) defaultSteps() int {
	if k := m.Cfg.SpeculativeTokens(); k > 0 {
		return k
	}
	return 3
}

// Forward runs the draft over a packed batch for K TTT steps
// (training-spec §5.3-5.6) and returns the loss and the metrics (owned by
// the workspace, valid until the next Forward). With opt.Grad it also
// computes ∂loss/∂logits for Backward.
func (m *Model) Forward(ws *Workspace, b *Batch, opt StepOptions) (*Metrics, error) {
	if ws.m != m {
		return nil, fmt.Errorf("eagle3: workspace belongs to another model")
	}
	ws.grad = false
	T := b.T
	K := opt.TTTSteps
	if K <= 0 {
		K = m.defaultSteps()
	}
	H, AH, Vd := m.H, m.A*m.H, m.Vd
	if K > T {
		return nil, fmt.Errorf("eagle3: %d TTT steps for %d positions", K, T)
	}
	if T <= 0 || T > ws.T || K > ws.K {
		return nil, fmt.Errorf("eagle3: batch of %d positions and %d steps does not fit the workspace (%d, %d)", T, K, ws.T, ws.K)
	}
	if len(b.Aux) < T*AH || len(b.IDs) < T || len(b.Doc) < T || len(b.Mask) < T || len(b.Pos) < T || len(b.VerifierLast) < T*H {
		return nil, fmt.Errorf("eagle3: batch buffers shorter than T=%d (aux width %d, hidden %d)", T, AH, H)
	}
	for i, id := range b.IDs[:T] {
		if id < 0 || int(id) >= m.V {
			return nil, fmt.Errorf("eagle3: token id %d at position %d outside the vocabulary of %d", id, i, m.V)
		}
	}
	terms := opt.Loss
	if terms == nil {
		terms = defaultLoss
	}
	eta := opt.Eta
	if eta == 0 {
		eta = tensor.LKHybridEta
	}
	gamma := opt.StepDecay
	if gamma == 0 {
		gamma = 1
	}
	ws.t, ws.k, ws.grad, ws.batch, ws.terms = T, K, opt.Grad, b, terms
	met := &ws.metrics
	met.Terms = terms
	if cap(met.Steps) < K {
		met.Steps = make([]StepMetrics, K)
	}
	met.Steps = met.Steps[:K]
	multi := len(terms) > 1
	for k := range met.Steps {
		if multi && len(met.Steps[k].TermSum) != len(terms) {
			met.Steps[k].TermSum = make([]float64, len(terms))
		}
		if !multi {
			met.Steps[k].TermSum = met.Steps[k].TermSum[:0]
		}
	}
	met.Reset()

	// Aux fusion: h0 = fc(norm(aux)).                               (T, H)
	ws.src = b.Aux[:T*AH]
	if opt.NoiseStd != 0 {
		ws.pcg.Seed(opt.NoiseSeed, 0x6e6f697365)
		src := ws.aux[:T*AH]
		copy(src, b.Aux[:T*AH])
		std := opt.NoiseStd
		for i := 0; i < T; i++ {
			if b.Doc[i] == -1 {
				continue
			}
			row := src[i*AH : (i+1)*AH]
			for j := range row {
				row[j] += 2 * (ws.rng.Float32() - 0.5) * std
			}
		}
		ws.src = src
	}
	fcX := ws.src
	switch {
	case m.InputNorm != nil:
		tensor.RMSNormForward(ws.fcIn, ws.fcRstd, ws.src, m.InputNorm.W, T, AH, m.Eps)
		fcX = ws.fcIn[:T*AH]
	case m.FCNorms != nil:
		for i, p := range m.FCNorms {
			gatherCols(ws.t1, ws.src, AH, i*H, T, H)
			tensor.RMSNormForward(ws.t2, ws.fcRstd[i*T:], ws.t1, p.W, T, H, m.Eps)
			scatterCols(ws.fcIn, AH, i*H, ws.t2, T, H)
		}
		fcX = ws.fcIn[:T*AH]
	}
	tensor.LinearForward(ws.h0, fcX, m.FC.W, nil, T, AH, H)

	// Soft targets: verifier_lm_head(verifier_norm(y)), no gradient. (T, Vd)
	tensor.RMSNormForward(ws.verN, ws.verRstd, b.VerifierLast, m.VerNorm, T, H, m.Eps)
	tensor.LinearForward(ws.tgt, ws.verN, m.VerLMHead, nil, T, H, Vd)
	rowArgmax(ws.tgtArg, ws.tgt, T, Vd)
	for i := range T {
		ws.prev[i] = b.Mask[i] != 0
	}

	for k := range K {
		st := &ws.steps[k]
		for i := range T {
			if i+k < T {
				st.ids[i] = b.IDs[i+k]
			} else {
				st.ids[i] = 0
			}
			st.pos[i] = b.Pos[i] + int32(k)
		}
		if err := tensor.EmbeddingForward(st.e, m.Embed.W, st.ids[:T], m.V, H); err != nil {
			return nil, fmt.Errorf("eagle3: %w", err)
		}
		tensor.RoPETables(st.cos, st.sin, st.pos[:T], m.invFreq, m.ropeScale)
		hIn := ws.h0
		if k > 0 {
			hIn = ws.steps[k-1].hOut
		}
		var x []float32
		for li, ly := range m.Layers {
			x = m.layerForward(ws, k, li, ly, st, hIn, x, b.Doc[:T])
		}
		// Final norm and frozen lm_head.                            (T, Vd)
		lmIn := st.hOut
		if m.NormOutput {
			tensor.RMSNormForward(st.hOut, st.nrmRstd, x, m.Norm.W, T, H, m.Eps)
		} else {
			copy(st.hOut[:T*H], x[:T*H])
			tensor.RMSNormForward(ws.nrm, st.nrmRstd, x, m.Norm.W, T, H, m.Eps)
			lmIn = ws.nrm
		}
		tensor.LinearForward(ws.logits, lmIn, m.LMHead, nil, T, H, Vd)
		m.stepLoss(ws, k, gamma, eta)
		if opt.Grad {
			// ∂loss_k/∂lmIn = dlogits·LM; rows ≥ T−k have no loss.
			n := T - k
			tensor.Sgemm(false, false, n, H, Vd, 1, ws.dlog, Vd, m.LMHead, H, 0, st.dh, H)
			clear(st.dh[n*H : T*H])
		}
	}
	for k := range met.Steps {
		met.LossSum += met.Steps[k].LossSum
	}
	met.LossTotal = 1
	return met, nil
}

var defaultLoss = []LossTerm{{Kind: tensor.LossKL, Weight: 1}}

// stepLoss computes the loss, its gradient (into ws.dlog) and the metrics
// of step k: logits[:T−k] against targets[k:], mask[k:] (§5.5).
func (m *Model) stepLoss(ws *Workspace, k int, gamma float64, eta float32) {
	T, Vd := ws.t, m.Vd
	n := T - k
	b := ws.batch
	s := &ws.metrics.Steps[k]
	decay := math.Pow(gamma, float64(k))
	var dl []float32
	if ws.grad {
		dl = ws.dlog[:T*Vd]
		clear(dl)
	}
	mask := b.Mask[k:T]
	tg := ws.tgt[k*Vd : T*Vd]
	var total float64
	for i, term := range ws.terms {
		w := float32(decay) * term.Weight
		var v float32
		if term.Weight != 0 {
			v = tensor.MaskedLoss(term.Kind, dl, ws.logits, tg, mask, w, n, Vd, eta, ws.lossWS) / term.Weight
		} else {
			v = tensor.MaskedLoss(term.Kind, nil, ws.logits, tg, mask, float32(decay), n, Vd, eta, ws.lossWS)
		}
		total += float64(term.Weight) * float64(v)
		if len(s.TermSum) > 0 {
			s.TermSum[i] = float64(v)
		}
	}
	s.LossSum, s.LossTotal = total, 1
	// Accuracy chain (compute_accuracy_single_step); the draft tokens are
	// the argmax of every row, as Python returns them.
	st := &ws.steps[k]
	rowArgmax(st.draft, ws.logits, T, Vd)
	correct, fullTotal, condTotal := accuracyStep(ws.prev[:n], st.draft[:n], ws.tgtArg[k:T], mask)
	s.FullCorrect, s.FullTotal, s.CondCorrect, s.CondTotal = correct, fullTotal, correct, condTotal
}

// accuracyStep is one step of the §5.6 chain: prev (the chains alive, i.e.
// correct at every earlier step) is updated in place with pred == tgt.
// It returns the number of masked positions whose chain is still alive, the
// number of masked positions, and how many chains were alive before.
func accuracyStep(prev []bool, pred, tgt []int32, mask []float32) (correct, fullTotal, condTotal float64) {
	for i := range prev {
		if prev[i] {
			condTotal++
		}
		prev[i] = prev[i] && pred[i] == tgt[i]
		if mask[i] != 0 {
			fullTotal++
			if prev[i] {
				correct++
			}
		}
	}
	return correct, fullTotal, condTotal
}

// DraftTokens returns the draft-vocabulary argmax of every position at TTT
// step k of the last Forward (Python's draft_tokens[k]): (T), valid until
// the next Forward.
func (ws *Workspace) DraftTokens(k int) []int32 {
	if k < 0 || k >= ws.k {
		panic(fmt.Sprintf("eagle3: DraftTokens(%d) after a Forward of %d steps", k, ws.k))
	}
	return ws.steps[k].draft[:ws.t]
}

// layerForward runs decoder layer li at step k and returns its output.
func (m *Model) layerForward(ws *Workspace, k, li int, ly *Layer, st *stepActs, hIn, x []float32, doc []int32) []float32 {
	T, H := ws.t, m.H
	Hq, Hkv := m.NH*m.HD, m.KVH*m.HD
	la := &st.layers[li]
	if li == 0 {
		// [input_layernorm(e) ; hidden_norm(h)]                       (T, 2H)
		tensor.RMSNormForward(ws.t1, la.rstdA, st.e, ly.InputLN.W, T, H, m.Eps)
		scatterCols(la.xin, 2*H, 0, ws.t1, T, H)
		tensor.RMSNormForward(ws.t1, la.rstdB, hIn, ly.HiddenNorm.W, T, H, m.Eps)
		scatterCols(la.xin, 2*H, H, ws.t1, T, H)
		if m.NormBeforeResidual {
			copy(la.x1[:T*H], ws.t1[:T*H]) // x1 starts as the residual
		} else {
			copy(la.x1[:T*H], hIn[:T*H])
		}
	} else {
		la.x = x
		tensor.RMSNormForward(la.xin, la.rstdA, x, ly.InputLN.W, T, H, m.Eps)
		copy(la.x1[:T*H], x[:T*H])
	}
	in := ly.In
	kc := ws.kc[li][k*T*Hkv : (k+1)*T*Hkv]
	vc := ws.vc[li][k*T*Hkv : (k+1)*T*Hkv]
	if ly.QNorm != nil {
		tensor.LinearForward(la.qRaw, la.xin, ly.Q.W, wOf(ly.QB), T, in, Hq)
		tensor.LinearForward(la.kRaw, la.xin, ly.K.W, wOf(ly.KB), T, in, Hkv)
		tensor.RMSNormForward(la.q, la.qRstd, la.qRaw, ly.QNorm.W, T*m.NH, m.HD, m.Eps)
		tensor.RMSNormForward(kc, la.kRstd, la.kRaw, ly.KNorm.W, T*m.KVH, m.HD, m.Eps)
	} else {
		tensor.LinearForward(la.q, la.xin, ly.Q.W, wOf(ly.QB), T, in, Hq)
		tensor.LinearForward(kc, la.xin, ly.K.W, wOf(ly.KB), T, in, Hkv)
	}
	tensor.LinearForward(vc, la.xin, ly.V.W, wOf(ly.VB), T, in, Hkv)
	tensor.RoPEForward(la.q, st.cos, st.sin, T, m.NH, m.HD, m.HD)
	tensor.RoPEForward(kc, st.cos, st.sin, T, m.KVH, m.HD, m.HD)
	S := (k + 1) * T
	sh := tensor.AttnShape{T: T, S: S, NH: m.NH, KVH: m.KVH, HD: m.HD, Window: ly.Window, Doc: doc}
	tensor.AttentionForward(la.o, la.lse, la.q, ws.kc[li][:S*Hkv], ws.vc[li][:S*Hkv], sh)
	// x1 = residual + o_proj(o)
	tensor.LinearForward(ws.t2, la.o, ly.O.W, wOf(ly.OB), T, Hq, H)
	addTo(la.x1[:T*H], ws.t2[:T*H])
	// out = x1 + down(silu(gate(x1n)) ⊙ up(x1n))
	tensor.RMSNormForward(la.x1n, la.rstd1, la.x1, ly.PostLN.W, T, H, m.Eps)
	tensor.LinearForward(la.g, la.x1n, ly.Gate.W, wOf(ly.GateB), T, H, m.I)
	tensor.LinearForward(la.u, la.x1n, ly.Up.W, wOf(ly.UpB), T, H, m.I)
	hm := ws.mlpWS[:T*m.I]
	tensor.SiLUGateForward(hm, la.g[:T*m.I], la.u[:T*m.I])
	tensor.LinearForward(la.out, hm, ly.Down.W, wOf(ly.DownB), T, m.I, H)
	addTo(la.out[:T*H], la.x1[:T*H])
	return la.out
}

// Backward accumulates the gradient of the last Forward's loss into the
// Params' G (call ZeroGrad between steps). Forward must have run with Grad.
func (m *Model) Backward(ws *Workspace) {
	if !ws.grad {
		panic("eagle3: Backward without a Forward with Grad")
	}
	T, K, H, AH := ws.t, ws.k, m.H, m.A*m.H
	Hkv := m.KVH * m.HD
	for li := range m.Layers {
		clear(ws.dk[li][:K*T*Hkv])
		clear(ws.dv[li][:K*T*Hkv])
	}
	dhNext := ws.dhNext[:T*H]
	clear(dhNext)
	for k := K - 1; k >= 0; k-- {
		st := &ws.steps[k]
		last := st.layers[m.L-1].out
		dy := ws.dy[:T*H]
		if m.NormOutput {
			// h = norm(x) feeds both lm_head and step k+1.
			addTo(st.dh[:T*H], dhNext)
			clear(dy)
			tensor.RMSNormBackward(dy, m.Norm.G, st.dh, last, m.Norm.W, st.nrmRstd, T, H)
		} else {
			copy(dy, dhNext)
			tensor.RMSNormBackward(dy, m.Norm.G, st.dh, last, m.Norm.W, st.nrmRstd, T, H)
		}
		for li := m.L - 1; li >= 0; li-- {
			m.layerBackward(ws, k, li, m.Layers[li], st)
		}
		// The layer-0 backward left ∂loss/∂h_k in dhNext.
	}
	// h0 = fc(norm(aux))
	fcX := ws.src
	if m.InputNorm != nil || m.FCNorms != nil {
		fcX = ws.fcIn[:T*AH]
	}
	var dX []float32
	if m.InputNorm != nil || m.FCNorms != nil {
		dX = ws.dfc[:T*AH]
		clear(dX)
	}
	tensor.LinearBackward(dX, m.FC.G, nil, dhNext, fcX, m.FC.W, T, AH, H)
	switch {
	case m.InputNorm != nil:
		clear(ws.dfcRaw[:T*AH])
		tensor.RMSNormBackward(ws.dfcRaw, m.InputNorm.G, dX, ws.src, m.InputNorm.W, ws.fcRstd, T, AH)
	case m.FCNorms != nil:
		for i, p := range m.FCNorms {
			gatherCols(ws.t1, dX, AH, i*H, T, H)
			gatherCols(ws.t2, ws.src, AH, i*H, T, H)
			clear(ws.t3[:T*H])
			tensor.RMSNormBackward(ws.t3, p.G, ws.t1, ws.t2, p.W, ws.fcRstd[i*T:], T, H)
		}
	}
}

// layerBackward takes ∂loss/∂out in ws.dy and leaves ∂loss/∂input in ws.dy
// (layers > 0) or ∂loss/∂h_k in ws.dhNext (layer 0).
func (m *Model) layerBackward(ws *Workspace, k, li int, ly *Layer, st *stepActs) {
	T, H, I := ws.t, m.H, m.I
	Hq, Hkv := m.NH*m.HD, m.KVH*m.HD
	la := &st.layers[li]
	dy := ws.dy[:T*H]
	// MLP: out = x1 + down(hm)
	dhm := ws.mlpWS[:T*I]
	dg := ws.mlpWS[T*I : 2*T*I]
	du := ws.mlpWS[2*T*I : 3*T*I]
	hm := ws.mlpWS[3*T*I : 4*T*I]
	tensor.SiLUGateForward(hm, la.g[:T*I], la.u[:T*I]) // recomputed: saves K·T·I floats
	clear(ws.mlpWS[:3*T*I])
	tensor.LinearBackward(dhm, ly.Down.G, gOf(ly.DownB), dy, hm, ly.Down.W, T, I, H)
	tensor.SiLUGateBackward(dg, du, dhm, la.g[:T*I], la.u[:T*I])
	dx1n := ws.dx1n[:T*H]
	clear(dx1n)
	tensor.LinearBackward(dx1n, ly.Gate.G, gOf(ly.GateB), dg, la.x1n, ly.Gate.W, T, H, I)
	tensor.LinearBackward(dx1n, ly.Up.G, gOf(ly.UpB), du, la.x1n, ly.Up.W, T, H, I)
	dx1 := ws.dx1[:T*H]
	copy(dx1, dy)
	tensor.RMSNormBackward(dx1, ly.PostLN.G, dx1n, la.x1, ly.PostLN.W, la.rstd1, T, H)
	// x1 = res + o_proj(o); dres = dx1
	do := ws.do[:T*Hq]
	clear(do)
	tensor.LinearBackward(do, ly.O.G, gOf(ly.OB), dx1, la.o, ly.O.W, T, Hq, H)
	S := (k + 1) * T
	sh := tensor.AttnShape{T: T, S: S, NH: m.NH, KVH: m.KVH, HD: m.HD, Window: ly.Window, Doc: ws.batch.Doc[:T]}
	dq := ws.dq[:T*Hq]
	clear(dq)
	tensor.AttentionBackward(dq, ws.dk[li][:S*Hkv], ws.dv[li][:S*Hkv], do, la.o, la.lse, la.q,
		ws.kc[li][:S*Hkv], ws.vc[li][:S*Hkv], sh)
	// This step's keys and values get no more gradient: undo RoPE and norms.
	dks := ws.dk[li][k*T*Hkv : S*Hkv]
	dvs := ws.dv[li][k*T*Hkv : S*Hkv]
	tensor.RoPEBackward(dq, st.cos, st.sin, T, m.NH, m.HD, m.HD)
	tensor.RoPEBackward(dks, st.cos, st.sin, T, m.KVH, m.HD, m.HD)
	if ly.QNorm != nil {
		dqRaw, dkRaw := ws.dqRaw[:T*Hq], ws.dkRaw[:T*Hkv]
		clear(dqRaw)
		clear(dkRaw)
		tensor.RMSNormBackward(dqRaw, ly.QNorm.G, dq, la.qRaw, ly.QNorm.W, la.qRstd, T*m.NH, m.HD)
		tensor.RMSNormBackward(dkRaw, ly.KNorm.G, dks, la.kRaw, ly.KNorm.W, la.kRstd, T*m.KVH, m.HD)
		dq, dks = dqRaw, dkRaw
	}
	in := ly.In
	dxin := ws.dxin[:T*in]
	clear(dxin)
	tensor.LinearBackward(dxin, ly.Q.G, gOf(ly.QB), dq, la.xin, ly.Q.W, T, in, Hq)
	tensor.LinearBackward(dxin, ly.K.G, gOf(ly.KB), dks, la.xin, ly.K.W, T, in, Hkv)
	tensor.LinearBackward(dxin, ly.V.G, gOf(ly.VB), dvs, la.xin, ly.V.W, T, in, Hkv)
	if li > 0 {
		// x1 started as x; xin = input_ln(x)
		copy(dy, dx1)
		tensor.RMSNormBackward(dy, ly.InputLN.G, dxin, la.x, ly.InputLN.W, la.rstdA, T, H)
		return
	}
	// Layer 0: xin = [input_ln(e) ; hidden_norm(h)], residual h or hidden_norm(h).
	var hIn []float32
	if k == 0 {
		hIn = ws.h0
	} else {
		hIn = ws.steps[k-1].hOut
	}
	den, dhn := ws.t1[:T*H], ws.t2[:T*H]
	gatherCols(den, dxin, 2*H, 0, T, H)
	gatherCols(dhn, dxin, 2*H, H, T, H)
	dh := ws.dhNext[:T*H]
	if m.NormBeforeResidual {
		addTo(dhn, dx1)
		clear(dh)
	} else {
		copy(dh, dx1)
	}
	tensor.RMSNormBackward(dh, ly.HiddenNorm.G, dhn, hIn, ly.HiddenNorm.W, la.rstdB, T, H)
	de := ws.t3[:T*H]
	clear(de)
	tensor.RMSNormBackward(de, ly.InputLN.G, den, st.e, ly.InputLN.W, la.rstdA, T, H)
	if m.Embed.G != nil {
		tensor.EmbeddingBackward(m.Embed.G, de, st.ids[:T], H)
	}
}

func wOf(p *tensor.Param) []float32 {
	if p == nil {
		return nil
	}
	return p.W
}

func gOf(p *tensor.Param) []float32 {
	if p == nil {
		return nil
	}
	return p.G
}

func addTo(dst, src []float32) {
	if tensor.Chunks(len(dst), 1<<15) <= 1 {
		src = src[:len(dst)]
		for i := range dst {
			dst[i] += src[i]
		}
		return
	}
	tensor.ParallelFor(len(dst), 1<<15, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// gatherCols copies columns [off, off+w) of the (T, ld) matrix src into the (T, w) matrix dst.
func gatherCols(dst, src []float32, ld, off, T, w int) {
	for i := 0; i < T; i++ {
		copy(dst[i*w:(i+1)*w], src[i*ld+off:i*ld+off+w])
	}
}

// scatterCols copies the (T, w) matrix src into columns [off, off+w) of the (T, ld) matrix dst.
func scatterCols(dst []float32, ld, off int, src []float32, T, w int) {
	for i := 0; i < T; i++ {
		copy(dst[i*ld+off:i*ld+off+w], src[i*w:(i+1)*w])
	}
}

// rowArgmax writes the index of the first largest value of each row (torch.argmax).
func rowArgmax(dst []int32, x []float32, n, v int) {
	tensor.ParallelFor(n, max(1, 16384/max(v, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*v : (i+1)*v]
			best := 0
			for j, val := range row {
				if val > row[best] {
					best = j
				}
			}
			dst[i] = int32(best)
		}
	})
}
