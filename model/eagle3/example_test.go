package eagle3_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/tensor"
)

// One training step on a packed batch, then one drafted token.
func Example() {
	o := testckpt.Tiny() // hidden 32, 4 heads, draft vocabulary 96 of 512
	cfg, _ := testckpt.Config(o)
	m, _ := eagle3.New(cfg, eagle3.Options{Seed: 1})
	d2t, t2d := testckpt.VocabMap(o.Vocab, o.DraftVocab, 1)
	if err := m.SetVocab(d2t, t2d); err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.1)
		}
		return x
	}
	// Frozen tensors from the verifier: embedding, LM head (rows picked by t2d), final norm.
	if err := m.SetVerifierWeights(randn(o.Vocab*o.Hidden), randn(o.Vocab*o.Hidden), nil); err != nil {
		panic(err)
	}
	// Two documents of 9 tokens (hidden states from the verifier) packed into T = 20.
	aux := m.A * m.H
	var samples []eagle3.Sample
	for range 2 {
		s := eagle3.Sample{IDs: make([]int32, 9), LossMask: make([]float32, 9), Aux: randn(9 * aux), VerifierLast: randn(9 * m.H)}
		for i := range s.IDs {
			s.IDs[i] = int32(rng.IntN(o.Vocab))
			s.LossMask[i] = 1
		}
		samples = append(samples, s)
	}
	b := eagle3.NewBatch(20, aux, m.H)
	if err := eagle3.Pack(b, samples, aux, m.H); err != nil {
		panic(err)
	}
	ws := m.NewWorkspace(20, 3) // reuse across steps: no allocation in the loop
	opt := eagle3.StepOptions{TTTSteps: 3, Grad: true, NoiseStd: 0.05, NoiseSeed: 1}
	opt.Loss, _ = eagle3.ParseLoss(`{"kl_div": 0.9, "tv": 0.1}`)
	m.ZeroGrad()
	met, err := m.Forward(ws, b, opt)
	if err != nil {
		panic(err)
	}
	m.Backward(ws)
	tensor.ClipGradNorm(m.Grads(), 1)
	tensor.NewAdamW(1e-4, 0.01).Step(m.Params())
	fmt.Println("steps:", len(met.Steps), "finite loss:", met.Loss() == met.Loss())

	// Speculative decoding: feed the verifier's states, then draft from the draft's own hidden state.
	dr := m.NewDrafter(64, 16)
	h, logits, _ := dr.Extend(b.IDs[:8], b.Aux[:8*aux], 1)
	next := m.ArgmaxTarget(logits[7*m.Vd:])
	_, _, _ = dr.Step(next, h[7*m.H:], 9)
	fmt.Println("cached:", dr.Len())
	// Output:
	// steps: 3 finite loss: true
	// cached: 9
}
