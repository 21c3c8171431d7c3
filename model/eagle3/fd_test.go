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
			terms := []LossTerm{{tensor.LossKL, 0.4}, {tensor.LossRKL, 0.3}, {tensor.LossJSD, 0.2}, {tensor.LossCE, 0.1}}
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
