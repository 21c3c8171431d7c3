package lmtrain

import (
	"math/rand/v2"
	"testing"

	"github.com/speculators-go/speculators/tensor"
)

// BenchmarkTrainStep is one optimizer step of the bundled verifier's shape
// (hidden 256, 4 layers, MLP 768, vocab 2048) on 2048 packed tokens.
func BenchmarkTrainStep(b *testing.B) {
	d := Dims{H: 256, I: 768, L: 4, NH: 4, KVH: 4, HD: 64, V: 2048, Eps: 1e-6, Rope: tensor.RoPEConfig{Theta: 1e4, HeadDim: 64}}
	const T = 2048
	m, err := New(d, T, 1)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	var docs [][]int32
	for range 64 {
		doc := make([]int32, 40+r.IntN(200))
		for j := range doc {
			doc[j] = int32(r.IntN(d.V))
		}
		docs = append(docs, doc)
	}
	tr := NewTrainer(m, &Packer{Docs: docs, T: T, Seed: 1}, nil, Options{Steps: 1 << 30, Warmup: 10, LR: 1e-3, MinLR: 1e-4, Clip: 1})
	if _, _, _, err := tr.TrainStep(); err != nil { // allocates the AdamW moments and GEMM buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := tr.TrainStep(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
