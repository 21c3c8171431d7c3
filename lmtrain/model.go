// Package lmtrain pretrains a Llama-architecture causal language model from
// scratch on the CPU with the tensor kernels: full forward over L decoder
// layers, explicit backward, AdamW with a cosine schedule, resumable
// checkpoints and a bf16 Hugging Face save that model/llama loads. It is what
// builds the bundled verifier (`speculators train-lm`).
//
// Sequences are packed: one step runs T tokens made of several documents,
// with a document mask in attention and positions restarting at 0 for each
// document, so training sees exactly what generation does.
package lmtrain

import (
	"fmt"
	"math/rand/v2"

	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/tensor"
)

// Dims are the sizes the trainer needs, taken from a resolved config.
// Shape legend: T packed tokens, H hidden, NH heads, KVH kv heads, HD head
// dim, I MLP size, V vocabulary, L layers.
type Dims struct {
	H, I, L, NH, KVH, HD, V int
	Eps                     float32
	Rope                    tensor.RoPEConfig
	Tied                    bool
}

// DimsOf checks that cfg is a plain Llama (no biases, no q/k norm, no
// sliding window) and returns its sizes.
func DimsOf(cfg *llama.Config) (Dims, error) {
	if cfg.QKVBias || cfg.OBias || cfg.MLPHasBias || cfg.QKNorm {
		return Dims{}, fmt.Errorf("lmtrain: only bias-free Llama layers are trained (config has biases or q/k norm)")
	}
	for _, w := range cfg.Windows {
		if w != 0 {
			return Dims{}, fmt.Errorf("lmtrain: sliding-window layers are not trained")
		}
	}
	if cfg.HiddenAct != "" && cfg.HiddenAct != "silu" {
		return Dims{}, fmt.Errorf("lmtrain: hidden_act %q, only silu", cfg.HiddenAct)
	}
	d := Dims{H: cfg.HiddenSize, I: cfg.IntermediateSize, L: cfg.NumHiddenLayers, NH: cfg.NumAttentionHeads,
		KVH: cfg.KVHeads, HD: cfg.HeadDim, V: cfg.VocabSize, Eps: cfg.Eps, Rope: cfg.Rope, Tied: cfg.Tied}
	if d.H <= 0 || d.I <= 0 || d.L <= 0 || d.NH <= 0 || d.KVH <= 0 || d.HD <= 0 || d.V <= 0 || d.NH%d.KVH != 0 {
		return Dims{}, fmt.Errorf("lmtrain: bad sizes %+v", d)
	}
	if int64(d.H)*int64(d.V) > 1<<28 || int64(d.H)*int64(d.I) > 1<<28 || d.L > 256 {
		return Dims{}, fmt.Errorf("lmtrain: model too large for CPU pretraining: %+v", d)
	}
	return d, nil
}

// layer holds one decoder layer's tensors (weights or gradients), PyTorch
// layout (Out, In).
type layer struct {
	InNorm, Wq, Wk, Wv, Wo, PostNorm, Wg, Wu, Wd []float32
}

// Weights of the whole model; Head is nil when tied to Embed.
type Weights struct {
	Embed  []float32 // (V, H)
	Layers []layer
	Norm   []float32 // (H)
	Head   []float32 // (V, H)
}

// named lists the tensors with their Hugging Face names, 2-D shapes (rows,
// cols; rows 0 for vectors).
type named struct {
	name       string
	x          *[]float32
	rows, cols int
}

func (w *Weights) list(d Dims) []named {
	QD, KD := d.NH*d.HD, d.KVH*d.HD
	out := []named{{"model.embed_tokens.weight", &w.Embed, d.V, d.H}}
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		out = append(out,
			named{p + "input_layernorm.weight", &l.InNorm, 0, d.H},
			named{p + "self_attn.q_proj.weight", &l.Wq, QD, d.H},
			named{p + "self_attn.k_proj.weight", &l.Wk, KD, d.H},
			named{p + "self_attn.v_proj.weight", &l.Wv, KD, d.H},
			named{p + "self_attn.o_proj.weight", &l.Wo, d.H, QD},
			named{p + "post_attention_layernorm.weight", &l.PostNorm, 0, d.H},
			named{p + "mlp.gate_proj.weight", &l.Wg, d.I, d.H},
			named{p + "mlp.up_proj.weight", &l.Wu, d.I, d.H},
			named{p + "mlp.down_proj.weight", &l.Wd, d.H, d.I})
	}
	out = append(out, named{"model.norm.weight", &w.Norm, 0, d.H})
	if !d.Tied {
		out = append(out, named{"lm_head.weight", &w.Head, d.V, d.H})
	}
	return out
}

func newWeights(d Dims) Weights {
	w := Weights{Layers: make([]layer, d.L)}
	for _, e := range w.list(d) {
		n := e.cols
		if e.rows > 0 {
			n *= e.rows
		}
		*e.x = make([]float32, n)
	}
	return w
}

// Model is the weights, gradients, AdamW parameter list and every activation
// of one packed step of T tokens, allocated once.
type Model struct {
	D      Dims
	T      int
	W, G   Weights
	Params []*tensor.Param

	invFreq    []float32
	attnScale  float32
	cos, sin   []float32 // (T, rotDim/2)
	ids, pos   []int32
	doc        []int32
	acts       []acts
	xs         [][]float32 // L+1 × (T, H): input of each layer, then the final residual
	xnF, rstdF []float32   // (T, H), (T)
	Logits     []float32   // (T, V)
	DLogits    []float32   // (T, V)
	dx, dxa    []float32   // (T, H)
	dxn        []float32   // (T, H)
	datt       []float32   // (T, NH·HD)
	dq, dk, dv []float32
	mlpWS      []float32 // (3·T·I)
}

type acts struct {
	xn1, rstd1, q, k, v, att, lse, x1, xn2, rstd2, g, u, h []float32
}

// New builds a model with Hugging Face initialisation (N(0, 0.02²) for
// embeddings and linear weights, ones for norms) for packed steps of t tokens.
func New(d Dims, t int, seed uint64) (*Model, error) {
	if t <= 0 || int64(t)*int64(d.V) > 1<<28 || int64(t)*int64(d.I) > 1<<28 {
		return nil, fmt.Errorf("lmtrain: %d tokens per step out of range", t)
	}
	inv, sc, err := tensor.RoPEInvFreq(d.Rope)
	if err != nil {
		return nil, fmt.Errorf("lmtrain: %w", err)
	}
	m := &Model{D: d, T: t, W: newWeights(d), G: newWeights(d), invFreq: inv, attnScale: sc}
	r := rand.New(rand.NewPCG(seed, 0x11a3a))
	gl := m.G.list(d)
	for i, e := range m.W.list(d) {
		for j := range *e.x {
			if e.rows > 0 {
				(*e.x)[j] = float32(r.NormFloat64() * 0.02)
			} else {
				(*e.x)[j] = 1
			}
		}
		m.Params = append(m.Params, &tensor.Param{Name: e.name, W: *e.x, G: *gl[i].x, Decay: e.rows > 0, Rows: e.rows})
	}
	f := func(n int) []float32 { return make([]float32, n) }
	H, QD, KD := d.H, d.NH*d.HD, d.KVH*d.HD
	rot := d.Rope.RotaryDim()
	m.cos, m.sin = f(t*rot/2), f(t*rot/2)
	m.ids, m.pos, m.doc = make([]int32, t), make([]int32, t), make([]int32, t)
	for range d.L {
		m.acts = append(m.acts, acts{xn1: f(t * H), rstd1: f(t), q: f(t * QD), k: f(t * KD), v: f(t * KD),
			att: f(t * QD), lse: f(d.NH * t), x1: f(t * H), xn2: f(t * H), rstd2: f(t),
			g: f(t * d.I), u: f(t * d.I), h: f(t * d.I)})
	}
	for range d.L + 1 {
		m.xs = append(m.xs, f(t*H))
	}
	m.xnF, m.rstdF = f(t*H), f(t)
	m.Logits, m.DLogits = f(t*d.V), f(t*d.V)
	m.dx, m.dxa, m.dxn = f(t*H), f(t*H), f(t*H)
	m.datt, m.dq, m.dk, m.dv = f(t*QD), f(t*QD), f(t*KD), f(t*KD)
	m.mlpWS = f(3 * t * d.I)
	return m, nil
}

// ZeroGrad clears every gradient.
func (m *Model) ZeroGrad() {
	for _, p := range m.Params {
		clear(p.G)
	}
}

func (m *Model) head() []float32 {
	if m.D.Tied {
		return m.W.Embed
	}
	return m.W.Head
}

func (m *Model) headGrad() []float32 {
	if m.D.Tied {
		return m.G.Embed
	}
	return m.G.Head
}

func (m *Model) shape() tensor.AttnShape {
	d := m.D
	return tensor.AttnShape{T: m.T, S: m.T, NH: d.NH, KVH: d.KVH, HD: d.HD, Doc: m.doc}
}

// Forward runs the packed batch: ids, pos and doc (T) (doc −1 marks padding)
// and leaves the logits (T, V) in m.Logits.
func (m *Model) Forward(ids, pos, doc []int32) error {
	d, T := m.D, m.T
	if len(ids) != T || len(pos) != T || len(doc) != T {
		return fmt.Errorf("lmtrain: forward needs %d ids, positions and doc ids", T)
	}
	H, QD, KD := d.H, d.NH*d.HD, d.KVH*d.HD
	copy(m.ids, ids)
	copy(m.pos, pos)
	copy(m.doc, doc)
	if err := tensor.EmbeddingForward(m.xs[0], m.W.Embed, m.ids, d.V, H); err != nil {
		return fmt.Errorf("lmtrain: %w", err)
	}
	rot := d.Rope.RotaryDim()
	tensor.RoPETables(m.cos, m.sin, m.pos, m.invFreq, m.attnScale)
	for l := range d.L {
		w, a, x, y := &m.W.Layers[l], &m.acts[l], m.xs[l], m.xs[l+1]
		tensor.RMSNormForward(a.xn1, a.rstd1, x, w.InNorm, T, H, d.Eps)      // (T, H)
		tensor.LinearForward(a.q, a.xn1, w.Wq, nil, T, H, QD)                // (T, NH·HD)
		tensor.LinearForward(a.k, a.xn1, w.Wk, nil, T, H, KD)                // (T, KVH·HD)
		tensor.LinearForward(a.v, a.xn1, w.Wv, nil, T, H, KD)                // (T, KVH·HD)
		tensor.RoPEForward(a.q, m.cos, m.sin, T, d.NH, d.HD, rot)            // in place
		tensor.RoPEForward(a.k, m.cos, m.sin, T, d.KVH, d.HD, rot)           // in place
		tensor.AttentionForward(a.att, a.lse, a.q, a.k, a.v, m.shape())      // (T, NH·HD)
		tensor.LinearForward(a.x1, a.att, w.Wo, nil, T, QD, H)               // (T, H)
		addTo(a.x1, x)                                                       // residual
		tensor.RMSNormForward(a.xn2, a.rstd2, a.x1, w.PostNorm, T, H, d.Eps) // (T, H)
		tensor.MLPForward(y, a.g, a.u, a.h, a.xn2, w.Wg, w.Wu, w.Wd, T, H, d.I)
		addTo(y, a.x1) // residual
	}
	tensor.RMSNormForward(m.xnF, m.rstdF, m.xs[d.L], m.W.Norm, T, H, d.Eps)
	tensor.LinearForward(m.Logits, m.xnF, m.head(), nil, T, H, d.V) // (T, V)
	return nil
}

// Backward accumulates every gradient from m.DLogits (T, V).
func (m *Model) Backward() {
	d, T := m.D, m.T
	H, QD, KD := d.H, d.NH*d.HD, d.KVH*d.HD
	rot := d.Rope.RotaryDim()
	clear(m.dxn)
	tensor.LinearBackward(m.dxn, m.headGrad(), nil, m.DLogits, m.xnF, m.head(), T, H, d.V)
	clear(m.dx)
	tensor.RMSNormBackward(m.dx, m.G.Norm, m.dxn, m.xs[d.L], m.W.Norm, m.rstdF, T, H)
	for l := d.L - 1; l >= 0; l-- {
		w, g, a, x := &m.W.Layers[l], &m.G.Layers[l], &m.acts[l], m.xs[l]
		// y = x1 + mlp(norm(x1)); m.dx holds dL/dy.
		clear(m.dxn)
		tensor.MLPBackward(m.dxn, g.Wg, g.Wu, g.Wd, m.dx, a.xn2, a.g, a.u, a.h, w.Wg, w.Wu, w.Wd, m.mlpWS, T, H, d.I)
		copy(m.dxa, m.dx)
		tensor.RMSNormBackward(m.dxa, g.PostNorm, m.dxn, a.x1, w.PostNorm, a.rstd2, T, H)
		// x1 = x + o_proj(attn(norm(x))); m.dxa holds dL/dx1.
		clear(m.datt)
		tensor.LinearBackward(m.datt, g.Wo, nil, m.dxa, a.att, w.Wo, T, QD, H)
		clear(m.dq)
		clear(m.dk)
		clear(m.dv)
		tensor.AttentionBackward(m.dq, m.dk, m.dv, m.datt, a.att, a.lse, a.q, a.k, a.v, m.shape())
		tensor.RoPEBackward(m.dq, m.cos, m.sin, T, d.NH, d.HD, rot)
		tensor.RoPEBackward(m.dk, m.cos, m.sin, T, d.KVH, d.HD, rot)
		clear(m.dxn)
		tensor.LinearBackward(m.dxn, g.Wq, nil, m.dq, a.xn1, w.Wq, T, H, QD)
		tensor.LinearBackward(m.dxn, g.Wk, nil, m.dk, a.xn1, w.Wk, T, H, KD)
		tensor.LinearBackward(m.dxn, g.Wv, nil, m.dv, a.xn1, w.Wv, T, H, KD)
		copy(m.dx, m.dxa)
		tensor.RMSNormBackward(m.dx, g.InNorm, m.dxn, x, w.InNorm, a.rstd1, T, H)
	}
	tensor.EmbeddingBackward(m.G.Embed, m.dx, m.ids, H)
}

// Loss runs the forward, the mean cross-entropy over labels ≥ 0 and, when
// grad is set, the backward. It returns the mean loss and the number of
// labelled tokens.
func (m *Model) Loss(ids, pos, doc, labels []int32, grad bool, loss, gscale []float32) (float64, int, error) {
	if err := m.Forward(ids, pos, doc); err != nil {
		return 0, 0, err
	}
	n := 0
	for _, y := range labels {
		if int(y) >= m.D.V {
			return 0, 0, fmt.Errorf("lmtrain: label %d outside vocabulary of %d", y, m.D.V)
		}
		if y >= 0 {
			n++
		}
	}
	if n == 0 {
		return 0, 0, nil
	}
	for i := range gscale {
		gscale[i] = 1 / float32(n)
	}
	var dl []float32
	if grad {
		clear(m.DLogits)
		dl = m.DLogits
	}
	tensor.CrossEntropy(loss, dl, m.Logits, labels, gscale, m.T, m.D.V)
	var s float64
	for _, l := range loss {
		s += float64(l)
	}
	if grad {
		m.Backward()
	}
	return s / float64(n), n, nil
}

func addTo(y, x []float32) {
	tensor.ParallelFor(len(y), 16384, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] += x[i]
		}
	})
}
