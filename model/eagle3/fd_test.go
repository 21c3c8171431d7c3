package eagle3

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/speculators-go/speculators/tensor"
)

// TestFiniteDifference checks Backward against central differences of the
// full draft's loss (all TTT steps, every parameter tensor, a few elements
// each), with the golden configurations.
func TestFiniteDifference(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			f, g := loadGolden(t, name)
			m, b, _ := goldenSetup(t, f, g)
			ws := m.NewWorkspace(g.T, g.K)
			// tv, nla and lk_hybrid have kinks where p = q, and the golden
			// targets put many positions exactly there, so the differences
			// use the smooth losses (the others are checked against autograd).
			terms := []LossTerm{{Kind: tensor.LossKL, Weight: 0.4}, {Kind: tensor.LossRKL, Weight: 0.3}, {Kind: tensor.LossJSD, Weight: 0.2}, {Kind: tensor.LossCE, Weight: 0.1}}
			opt := StepOptions{TTTSteps: g.K, StepDecay: g.Gamma, Loss: terms}
			loss := func() float64 {
				met, err := m.Forward(ws, b, opt)
				if err != nil {
					t.Fatal(err)
				}
				return met.Loss()
			}
			opt.Grad = true
			if _, err := m.Forward(ws, b, opt); err != nil {
				t.Fatal(err)
			}
			opt.Grad = false
			m.ZeroGrad()
			m.Backward(ws)
			rng := rand.New(rand.NewPCG(7, 7))
			const h = 2e-3
			for _, p := range m.Params() {
				grad := append([]float32(nil), p.G...)
				var gmax float64
				for _, v := range grad {
					gmax = max(gmax, math.Abs(float64(v)))
				}
				for range 4 {
					i := rng.IntN(len(p.W))
					w0 := p.W[i]
					p.W[i] = w0 + h
					lp := loss()
					p.W[i] = w0 - h
					lm := loss()
					p.W[i] = w0
					fd := (lp - lm) / (2 * h)
					if math.Abs(fd-float64(grad[i])) > 0.03*math.Abs(fd)+0.01*gmax+1e-3 {
						t.Errorf("%s[%d]: backward %.6g, finite difference %.6g", p.Name, i, grad[i], fd)
					}
				}
			}
		})
	}
}

// TestEmbedRequiresGrad: with embed_requires_grad the embedding is a
// trainable parameter whose gradient (rows of the ids fed at every TTT
// step) matches finite differences.
func TestEmbedRequiresGrad(t *testing.T) {
	f, g := loadGolden(t, "llama_default")
	cfg := goldenConfig(t, g)
	cfg.Eagle3.EmbedRequiresGrad = true
	m0, b, _ := goldenSetup(t, f, g)
	m, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Params()[0].Name != "embed_tokens.weight" || m.Params()[0].G == nil {
		t.Fatal("embed_tokens is not the first trainable parameter")
	}
	for i, p := range m0.AllParams() {
		copy(m.AllParams()[i].W, p.W)
	}
	copy(m.LMHead, m0.LMHead)
	copy(m.VerLMHead, m0.VerLMHead)
	copy(m.VerNorm, m0.VerNorm)
	m.D2T, m.T2D = m0.D2T, m0.T2D
	ws := m.NewWorkspace(g.T, g.K)
	opt := StepOptions{Grad: true}
	if _, err := m.Forward(ws, b, opt); err != nil {
		t.Fatal(err)
	}
	m.ZeroGrad()
	m.Backward(ws)
	e := m.Embed
	opt.Grad = false
	const h = 2e-3
	for _, row := range []int{int(b.IDs[0]), int(b.IDs[5]), int(b.IDs[g.T-6])} {
		for _, col := range []int{0, 7, g.H - 1} {
			i := row*g.H + col
			w0 := e.W[i]
			e.W[i] = w0 + h
			lp, _ := m.Forward(ws, b, opt)
			up := lp.Loss()
			e.W[i] = w0 - h
			lm, _ := m.Forward(ws, b, opt)
			down := lm.Loss()
			e.W[i] = w0
			fd := (up - down) / (2 * h)
			if math.Abs(fd-float64(e.G[i])) > 0.03*math.Abs(fd)+2e-3 {
				t.Errorf("embed[%d,%d]: backward %g, finite difference %g", row, col, e.G[i], fd)
			}
		}
	}
}
