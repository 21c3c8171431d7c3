// Package blockbench trains one Llama decoder block with a linear head, built
// from the tensor kernels with an explicit forward and backward. It is the
// workload of `speculators bench block` (go-stack.md §3: hidden 512, seq 512,
// 8 heads, MLP 1536, 8192 classes, cross-entropy, AdamW) and, at a tiny size,
// the decoder-block golden test against PyTorch.
package blockbench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/speculators-go/speculators/tensor"
)

// Config sizes the block. Shape legend: T seq, H hidden, NH heads, KVH
// key/value heads, HD head dim, I MLP size, V classes.
type Config struct {
	Hidden  int     // H, e.g. 512
	Seq     int     // T, e.g. 512
	Heads   int     // NH, e.g. 8
	KVHeads int     // KVH, e.g. 8 (GQA when fewer than Heads)
	MLP     int     // I, e.g. 1536
	Vocab   int     // V, e.g. 8192
	Eps     float32 // RMSNorm eps, e.g. 1e-6
	Theta   float64 // rope_theta, e.g. 1e4
}

// DefaultConfig is the go-stack.md §3 workload.
func DefaultConfig() Config {
	return Config{Hidden: 512, Seq: 512, Heads: 8, KVHeads: 8, MLP: 1536, Vocab: 8192, Eps: 1e-6, Theta: 1e4}
}

// Validate checks that the sizes make a block.
func (c Config) Validate() error {
	if c.Hidden <= 0 || c.Seq <= 0 || c.Heads <= 0 || c.MLP <= 0 || c.Vocab <= 0 {
		return fmt.Errorf("blockbench: sizes must be positive: %+v", c)
	}
	if c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("blockbench: heads %d not a multiple of kv heads %d", c.Heads, c.KVHeads)
	}
	if c.Hidden%c.Heads != 0 || (c.Hidden/c.Heads)%2 != 0 {
		return fmt.Errorf("blockbench: hidden %d must split into %d heads of even size", c.Hidden, c.Heads)
	}
	if c.Seq*c.Vocab > 1<<28 || c.Seq*c.MLP > 1<<28 || c.Hidden > 1<<14 {
		return fmt.Errorf("blockbench: sizes too large: %+v", c)
	}
	return nil
}

// Weights of the block, PyTorch layout (Out, In).
type Weights struct {
	InNorm   []float32 // (H) input_layernorm
	Wq       []float32 // (NH·HD, H)
	Wk, Wv   []float32 // (KVH·HD, H)
	Wo       []float32 // (H, NH·HD)
	PostNorm []float32 // (H) post_attention_layernorm
	Wg, Wu   []float32 // (I, H) gate_proj, up_proj
	Wd       []float32 // (H, I) down_proj
	Norm     []float32 // (H) final norm
	Head     []float32 // (V, H) lm_head
}

func newWeights(c Config) Weights {
	H, HD := c.Hidden, c.Hidden/c.Heads
	return Weights{
		InNorm: make([]float32, H), Wq: make([]float32, c.Heads*HD*H),
		Wk: make([]float32, c.KVHeads*HD*H), Wv: make([]float32, c.KVHeads*HD*H),
		Wo: make([]float32, H*c.Heads*HD), PostNorm: make([]float32, H),
		Wg: make([]float32, c.MLP*H), Wu: make([]float32, c.MLP*H), Wd: make([]float32, H*c.MLP),
		Norm: make([]float32, H), Head: make([]float32, c.Vocab*H),
	}
}

// list returns the tensors in a fixed order with their names and whether they are 2-D.
func (w *Weights) list() []struct {
	name string
	x    *[]float32
	mat  bool
} {
	return []struct {
		name string
		x    *[]float32
		mat  bool
	}{
		{"input_layernorm", &w.InNorm, false}, {"q_proj", &w.Wq, true}, {"k_proj", &w.Wk, true},
		{"v_proj", &w.Wv, true}, {"o_proj", &w.Wo, true}, {"post_attention_layernorm", &w.PostNorm, false},
		{"gate_proj", &w.Wg, true}, {"up_proj", &w.Wu, true}, {"down_proj", &w.Wd, true},
		{"norm", &w.Norm, false}, {"lm_head", &w.Head, true},
	}
}

// Block holds weights, gradients, optimizer state and every activation the
// backward needs; all buffers are allocated once in New.
type Block struct {
	Cfg    Config
	W, G   Weights
	Params []*tensor.Param // W and G paired, for the optimizer and clipping

	rotDim          int
	invFreq         []float32
	cos, sin        []float32 // (T, HD/2)
	lastPos         []int32
	doc             []int32
	x               []float32 // (T, H) input
	xn1, rstd1      []float32 // (T, H), (T)
	q, k, v         []float32 // (T, NH·HD), (T, KVH·HD) ×2, after RoPE
	att, lse        []float32 // (T, NH·HD), (NH, T)
	x1, xn2, rstd2  []float32 // (T, H), (T, H), (T)
	g, u, h         []float32 // (T, I)
	mo, x2          []float32 // (T, H)
	xn3, rstd3      []float32 // (T, H), (T)
	Logits          []float32 // (T, V)
	dLogits         []float32 // (T, V)
	dxn3, dx2, dxn2 []float32 // (T, H)
	dx1, datt       []float32 // (T, H), (T, NH·HD)
	dq, dk, dv      []float32
	dxn1, dx        []float32 // (T, H)
	mlpWS           []float32 // (3·T·I)
}

// New allocates a block with HF-style initialisation: linear weights
// N(0, 0.02²), norms ones.
func New(c Config, seed uint64) (*Block, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	HD := c.Hidden / c.Heads
	inv, sc, err := tensor.RoPEInvFreq(tensor.RoPEConfig{Theta: c.Theta, HeadDim: HD})
	if err != nil {
		return nil, err
	}
	if sc != 1 {
		return nil, fmt.Errorf("blockbench: unexpected rope attention scaling %g", sc)
	}
	T, H, I, V := c.Seq, c.Hidden, c.MLP, c.Vocab
	QD, KD := c.Heads*HD, c.KVHeads*HD
	f := func(n int) []float32 { return make([]float32, n) }
	b := &Block{Cfg: c, W: newWeights(c), G: newWeights(c), rotDim: HD, invFreq: inv,
		cos: f(T * HD / 2), sin: f(T * HD / 2),
		x: f(T * H), xn1: f(T * H), rstd1: f(T), q: f(T * QD), k: f(T * KD), v: f(T * KD),
		att: f(T * QD), lse: f(c.Heads * T), x1: f(T * H), xn2: f(T * H), rstd2: f(T),
		g: f(T * I), u: f(T * I), h: f(T * I), mo: f(T * H), x2: f(T * H), xn3: f(T * H), rstd3: f(T),
		Logits: f(T * V), dLogits: f(T * V), dxn3: f(T * H), dx2: f(T * H), dxn2: f(T * H),
		dx1: f(T * H), datt: f(T * QD), dq: f(T * QD), dk: f(T * KD), dv: f(T * KD),
		dxn1: f(T * H), dx: f(T * H), mlpWS: f(3 * T * I)}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	wl, gl := b.W.list(), b.G.list()
	for i, e := range wl {
		if e.mat {
			for j := range *e.x {
				(*e.x)[j] = float32(r.NormFloat64() * 0.02)
			}
		} else {
			for j := range *e.x {
				(*e.x)[j] = 1
			}
		}
		p := &tensor.Param{Name: e.name, W: *e.x, G: *gl[i].x, Decay: e.mat}
		if e.mat {
			p.Rows = len(*e.x) / c.Hidden
			if e.name == "down_proj" || e.name == "o_proj" {
				p.Rows = c.Hidden
			}
		}
		b.Params = append(b.Params, p)
	}
	return b, nil
}

// SetWeights copies w into the block (shapes must match New's).
func (b *Block) SetWeights(w Weights) error {
	src, dst := w.list(), b.W.list()
	for i := range src {
		if len(*src[i].x) != len(*dst[i].x) {
			return fmt.Errorf("blockbench: %s has %d values, want %d", src[i].name, len(*src[i].x), len(*dst[i].x))
		}
		copy(*dst[i].x, *src[i].x)
	}
	return nil
}

// ZeroGrad clears every weight gradient.
func (b *Block) ZeroGrad() {
	for _, p := range b.Params {
		clear(p.G)
	}
}

func (b *Block) attnShape() tensor.AttnShape {
	c := b.Cfg
	return tensor.AttnShape{T: c.Seq, S: c.Seq, NH: c.Heads, KVH: c.KVHeads, HD: c.Hidden / c.Heads, Doc: b.doc}
}

// Forward runs the block on x (T, H) with position ids pos (T) and document
// ids doc (T; nil for one document) and leaves the logits (T, V) in b.Logits.
func (b *Block) Forward(x []float32, pos, doc []int32) {
	c := b.Cfg
	T, H, I, V := c.Seq, c.Hidden, c.MLP, c.Vocab
	HD := H / c.Heads
	QD, KD := c.Heads*HD, c.KVHeads*HD
	copy(b.x, x[:T*H])
	b.doc = doc
	if !slices.Equal(b.lastPos, pos) {
		tensor.RoPETables(b.cos, b.sin, pos, b.invFreq, 1)
		b.lastPos = append(b.lastPos[:0], pos...)
	}
	w := &b.W
	// attention sub-block
	tensor.RMSNormForward(b.xn1, b.rstd1, b.x, w.InNorm, T, H, c.Eps)   // (T, H)
	tensor.LinearForward(b.q, b.xn1, w.Wq, nil, T, H, QD)               // (T, NH·HD)
	tensor.LinearForward(b.k, b.xn1, w.Wk, nil, T, H, KD)               // (T, KVH·HD)
	tensor.LinearForward(b.v, b.xn1, w.Wv, nil, T, H, KD)               // (T, KVH·HD)
	tensor.RoPEForward(b.q, b.cos, b.sin, T, c.Heads, HD, b.rotDim)     // in place
	tensor.RoPEForward(b.k, b.cos, b.sin, T, c.KVHeads, HD, b.rotDim)   // in place
	tensor.AttentionForward(b.att, b.lse, b.q, b.k, b.v, b.attnShape()) // (T, NH·HD)
	tensor.LinearForward(b.x1, b.att, w.Wo, nil, T, QD, H)              // (T, H)
	addInPlace(b.x1, b.x)                                               // residual
	// MLP sub-block
	tensor.RMSNormForward(b.xn2, b.rstd2, b.x1, w.PostNorm, T, H, c.Eps)
	tensor.MLPForward(b.mo, b.g, b.u, b.h, b.xn2, w.Wg, w.Wu, w.Wd, T, H, I)
	add(b.x2, b.x1, b.mo) // residual
	// head
	tensor.RMSNormForward(b.xn3, b.rstd3, b.x2, w.Norm, T, H, c.Eps)
	tensor.LinearForward(b.Logits, b.xn3, w.Head, nil, T, H, V) // (T, V)
}

// DLogits is the buffer the loss writes the logits gradient into; Backward reads it.
func (b *Block) DLogits() []float32 { return b.dLogits }

// Backward accumulates every weight gradient from DLogits() and returns the
// gradient of the input x (T, H), valid until the next call.
func (b *Block) Backward() []float32 {
	c := b.Cfg
	T, H, I, V := c.Seq, c.Hidden, c.MLP, c.Vocab
	HD := H / c.Heads
	QD, KD := c.Heads*HD, c.KVHeads*HD
	w, g := &b.W, &b.G
	for _, buf := range [][]float32{b.dxn3, b.dx2, b.dxn2, b.datt, b.dq, b.dk, b.dv, b.dxn1} {
		clear(buf)
	}
	tensor.LinearBackward(b.dxn3, g.Head, nil, b.dLogits, b.xn3, w.Head, T, H, V)
	tensor.RMSNormBackward(b.dx2, g.Norm, b.dxn3, b.x2, w.Norm, b.rstd3, T, H)
	// x2 = x1 + mlp(norm(x1))
	tensor.MLPBackward(b.dxn2, g.Wg, g.Wu, g.Wd, b.dx2, b.xn2, b.g, b.u, b.h, w.Wg, w.Wu, w.Wd, b.mlpWS, T, H, I)
	copy(b.dx1, b.dx2)
	tensor.RMSNormBackward(b.dx1, g.PostNorm, b.dxn2, b.x1, w.PostNorm, b.rstd2, T, H)
	// x1 = x + o_proj(attn(...))
	tensor.LinearBackward(b.datt, g.Wo, nil, b.dx1, b.att, w.Wo, T, QD, H)
	tensor.AttentionBackward(b.dq, b.dk, b.dv, b.datt, b.att, b.lse, b.q, b.k, b.v, b.attnShape())
	tensor.RoPEBackward(b.dq, b.cos, b.sin, T, c.Heads, HD, b.rotDim)
	tensor.RoPEBackward(b.dk, b.cos, b.sin, T, c.KVHeads, HD, b.rotDim)
	tensor.LinearBackward(b.dxn1, g.Wq, nil, b.dq, b.xn1, w.Wq, T, H, QD)
	tensor.LinearBackward(b.dxn1, g.Wk, nil, b.dk, b.xn1, w.Wk, T, H, KD)
	tensor.LinearBackward(b.dxn1, g.Wv, nil, b.dv, b.xn1, w.Wv, T, H, KD)
	copy(b.dx, b.dx1)
	tensor.RMSNormBackward(b.dx, g.InNorm, b.dxn1, b.x, w.InNorm, b.rstd1, T, H)
	return b.dx
}

func addInPlace(y, x []float32) {
	tensor.ParallelFor(len(y), 16384, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] += x[i]
		}
	})
}

func add(z, x, y []float32) {
	tensor.ParallelFor(len(z), 16384, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			z[i] = x[i] + y[i]
		}
	})
}

// CosineLR is the learning rate at step (0-based): linear warm-up over
// warmup steps, then cosine decay to 0 at total.
func CosineLR(base float64, step, warmup, total int) float64 {
	if step < warmup {
		return base * float64(step+1) / float64(warmup)
	}
	if total <= warmup {
		return base
	}
	p := float64(step-warmup) / float64(total-warmup)
	return base * 0.5 * (1 + math.Cos(math.Pi*min(p, 1)))
}
