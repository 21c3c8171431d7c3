//go:build unix

package eagle3

import (
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/speculators-go/speculators/internal/testckpt"
)

// benchShape is the realistic small config of the closing note of issue 9
// (the same as testdata/bench_step.py): hidden 1024, 8 heads of 128 (4 KV
// heads), MLP 3072, verifier vocabulary 32000, draft vocabulary 8192, one
// llama layer, T = 2048 packed as 4 documents of 512, 3 TTT steps, the
// default sliding window 2048, kl_div. EAGLE3_BENCH_T overrides T.
type benchShape struct{ H, NH, KVH, HD, I, V, Vd, T, K, Docs int }

func defaultBenchShape() benchShape {
	s := benchShape{H: 1024, NH: 8, KVH: 4, HD: 128, I: 3072, V: 32000, Vd: 8192, T: 2048, K: 3, Docs: 4}
	if v, err := strconv.Atoi(os.Getenv("EAGLE3_BENCH_T")); err == nil && v > 0 {
		s.T = v
	}
	return s
}

// benchSetup builds a draft with random weights and a random packed batch.
func benchSetup(tb testing.TB, s benchShape) (*Model, *Batch) {
	o := testckpt.Tiny()
	o.Hidden, o.Heads, o.KVHeads, o.HeadDim, o.Intermediate, o.Layers = s.H, s.NH, s.KVH, s.HD, s.I, 1
	o.Vocab, o.DraftVocab, o.AuxIDs, o.SpeculativeTokens = s.V, s.Vd, []int{2, 14, 25}, s.K
	c, err := testckpt.Config(o)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := New(c, Options{Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	d2t, t2d := testckpt.VocabMap(s.V, s.Vd, 3)
	if err := m.SetVocab(d2t, t2d); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	randn := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
		return x
	}
	norm := make([]float32, s.H)
	for i := range norm {
		norm[i] = 1
	}
	if err := m.SetVerifierWeights(randn(s.V*s.H, 0.02), randn(s.V*s.H, 0.02), norm); err != nil {
		tb.Fatal(err)
	}
	b := NewBatch(s.T, m.A*s.H, s.H)
	copy(b.Aux, randn(len(b.Aux), 1))
	copy(b.VerifierLast, randn(len(b.VerifierLast), 1))
	per := s.T / s.Docs
	for i := 0; i < s.T; i++ {
		b.IDs[i] = int32(rng.IntN(s.V))
		b.Doc[i] = int32(i / per)
		b.Pos[i] = int32(i%per + 1)
		if i%per >= per/4 {
			b.Mask[i] = 1
		}
	}
	return m, b
}

// BenchmarkTrainStep is one training step: forward over 3 TTT steps with the
// loss gradient, and backward into every trainable parameter.
func BenchmarkTrainStep(b *testing.B) {
	s := defaultBenchShape()
	m, batch := benchSetup(b, s)
	ws := m.NewWorkspace(s.T, s.K)
	b.Logf("workspace %.0f MiB", float64(ws.Bytes())/(1<<20))
	opt := StepOptions{TTTSteps: s.K, Grad: true, NoiseStd: 0.05}
	b.ReportAllocs()
	c0 := cpuSeconds()
	b.ResetTimer()
	for b.Loop() {
		m.ZeroGrad()
		if _, err := m.Forward(ws, batch, opt); err != nil {
			b.Fatal(err)
		}
		m.Backward(ws)
	}
	b.ReportMetric(float64(s.T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(1e3*(cpuSeconds()-c0)/float64(b.N), "cpu-ms/op")
}

// cpuSeconds is the process's user+system CPU time: on a shared machine it
// says what a step costs independently of how long it waited for a core.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
