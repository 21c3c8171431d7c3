//go:build unix

package train

import (
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/tensor"
)

// BenchmarkTrainLoopStep is one full optimizer step of the training loop
// on the issue-9 closing-note config (hidden 1024, 8 heads of 128 over 4 KV
// heads, MLP 3072, vocabulary 32000, draft vocabulary 8192, one llama layer,
// T = 2048 as 4 documents, 3 TTT steps, window 2048, kl_div, noise 0.05):
// forward, backward, gradient clipping at 1.0, and Muon (2-D weights) plus
// AdamW (the rest) at the default learning rates. TRAIN_BENCH_T overrides T
// and TRAIN_BENCH_OPT=adamw uses AdamW alone. testdata/bench_train_step.py
// is the same step in PyTorch; scripts/bench_train.sh runs both.
func BenchmarkTrainLoopStep(b *testing.B) {
	T := 2048
	if v, err := strconv.Atoi(os.Getenv("TRAIN_BENCH_T")); err == nil && v > 0 {
		T = v
	}
	const H, NH, KVH, HD, I, V, Vd, K, Docs = 1024, 8, 4, 128, 3072, 32000, 8192, 3, 4
	o := testckpt.Tiny()
	o.Hidden, o.Heads, o.KVHeads, o.HeadDim, o.Intermediate, o.Layers = H, NH, KVH, HD, I, 1
	o.Vocab, o.DraftVocab, o.AuxIDs, o.SpeculativeTokens = V, Vd, []int{2, 14, 25}, K
	c, err := testckpt.Config(o)
	if err != nil {
		b.Fatal(err)
	}
	m, err := eagle3.New(c, eagle3.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	d2t, t2d := testckpt.VocabMap(V, Vd, 3)
	if err := m.SetVocab(d2t, t2d); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	randn := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
		return x
	}
	if err := m.SetVerifierWeights(randn(V*H, 0.02), randn(V*H, 0.02), nil); err != nil {
		b.Fatal(err)
	}
	batch := eagle3.NewBatch(T, m.A*H, H)
	copy(batch.Aux, randn(len(batch.Aux), 1))
	copy(batch.VerifierLast, randn(len(batch.VerifierLast), 1))
	per := T / Docs
	for i := 0; i < T; i++ {
		batch.IDs[i] = int32(rng.IntN(V))
		batch.Doc[i] = int32(i / per)
		batch.Pos[i] = int32(i%per + 1)
		if i%per >= per/4 {
			batch.Mask[i] = 1
		}
	}
	oo := Defaults().Optim
	if os.Getenv("TRAIN_BENCH_OPT") == "adamw" {
		oo.Type = "adamw"
	}
	opts, err := buildOptimizers(m, oo)
	if err != nil {
		b.Fatal(err)
	}
	ws := m.NewWorkspace(T, K)
	sched := Schedule{Type: "none"}
	step := 0
	run := func() {
		m.ZeroGrad()
		if _, err := m.Forward(ws, batch, eagle3.StepOptions{TTTSteps: K, Grad: true, NoiseStd: 0.05, NoiseSeed: uint64(step)}); err != nil {
			b.Fatal(err)
		}
		m.Backward(ws)
		tensor.ClipGradNorm(m.Grads(), 1)
		for _, op := range opts {
			op.step(sched.Factor(step))
		}
		step++
	}
	run() // allocate optimizer state
	b.ReportAllocs()
	c0 := cpuSeconds()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.ReportMetric(float64(T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(1e3*(cpuSeconds()-c0)/float64(b.N), "cpu-ms/op")
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
