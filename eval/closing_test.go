package eval

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/spec"
	"github.com/speculators-go/speculators/tensor"
)

// TestClosingFigure trains an EAGLE-3 draft on a small random verifier
// (hidden 256, 8 layers) from the verifier's own sampled continuations,
// then measures τ and wall-clock speedup online at k = 1..5, greedy and
// T = 1, next to the offline (teacher-forced) τ on held-out hidden states.
// It takes minutes, so it runs only with SPEC_CLOSING=1:
//
//	SPEC_CLOSING=1 go test -run ClosingFigure -v -timeout 30m ./eval/
func TestClosingFigure(t *testing.T) {
	if os.Getenv("SPEC_CLOSING") == "" {
		t.Skip("set SPEC_CLOSING=1 to train a draft and measure τ and speedup (minutes)")
	}
	o := testmodel.Tiny("llama")
	o.Hidden, o.Layers, o.Heads, o.KVHeads, o.Intermediate = 256, 8, 8, 4, 768
	vdir := filepath.Join(t.TempDir(), "verifier")
	if err := testmodel.Write(vdir, o); err != nil {
		t.Fatal(err)
	}
	v, err := llama.Load(vdir)
	if err != nil {
		t.Fatal(err)
	}
	aux := v.DefaultAuxLayers()
	capture := append(slices.Clone(aux), v.N())
	rng := rand.New(rand.NewPCG(1, 1))
	const promptLen, genLen = 8, 56
	// Data: prompts of random tokens continued by the verifier at T = 1 (half)
	// and greedily (half), as response regeneration does.
	mkSamples := func(n int, seed uint64) []eagle3.Sample {
		var out []eagle3.Sample
		st := v.NewState(1)
		for i := range n {
			p := make([]int32, promptLen)
			for j := range p {
				p[j] = int32(rng.IntN(v.V()))
			}
			smp, _ := sample.New(sample.Params{Temperature: float64(i % 2), Seed: seed + uint64(i)})
			st.Reset()
			gen, _, err := llama.Generate(st, p, llama.GenerateOptions{MaxTokens: genLen, Sampler: smp})
			if err != nil {
				t.Fatal(err)
			}
			ids := append(p, gen...)
			st.Reset()
			fo, err := st.ForwardSeq(0, ids, llama.ForwardOptions{Capture: capture})
			if err != nil {
				t.Fatal(err)
			}
			S, A, H := len(ids), len(aux), v.H()
			s := eagle3.Sample{IDs: ids, LossMask: make([]float32, S), Aux: make([]float32, S*A*H), VerifierLast: make([]float32, S*H)}
			for t := range S {
				row := fo.TokenHidden(0, t)
				copy(s.Aux[t*A*H:(t+1)*A*H], row[:A*H])
				copy(s.VerifierLast[t*H:(t+1)*H], row[A*H:])
				if t >= promptLen {
					s.LossMask[t] = 1
				}
			}
			out = append(out, s)
		}
		return out
	}
	t0 := time.Now()
	train := mkSamples(384, 1000)
	held := mkSamples(32, 9000)
	t.Logf("data: %d train, %d held-out samples of %d tokens in %v", len(train), len(held), promptLen+genLen, time.Since(t0).Round(time.Millisecond))

	co := testckpt.Tiny()
	co.Hidden, co.Heads, co.KVHeads, co.HeadDim, co.Intermediate = v.H(), 8, 4, 32, 768
	co.Vocab, co.DraftVocab, co.AuxIDs, co.DType = v.V(), v.V(), aux, safetensors.F32
	cfg, err := testckpt.Config(co)
	if err != nil {
		t.Fatal(err)
	}
	m, err := eagle3.New(cfg, eagle3.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetVerifierWeights(v.Embed, v.LMHead, v.Norm); err != nil {
		t.Fatal(err)
	}
	const T, ttt, epochs = 512, 3, 24
	AH := m.A * m.H
	ws := m.NewWorkspace(T, ttt)
	b := eagle3.NewBatch(T, AH, m.H)
	opt := tensor.NewAdamW(2e-3, 0.01)
	per := T / (promptLen + genLen)
	t0 = time.Now()
	step := 0
	for ep := range epochs {
		rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
		var met eagle3.Metrics
		for lo := 0; lo < len(train); lo += per {
			if err := eagle3.Pack(b, train[lo:min(lo+per, len(train))], AH, m.H); err != nil {
				t.Fatal(err)
			}
			m.ZeroGrad()
			mt, err := m.Forward(ws, b, eagle3.StepOptions{TTTSteps: ttt, Grad: true, NoiseStd: 0.05, NoiseSeed: uint64(step)})
			if err != nil {
				t.Fatal(err)
			}
			met.Add(mt)
			m.Backward(ws)
			tensor.ClipGradNorm(m.Grads(), 1)
			opt.Step(m.Params())
			step++
		}
		t.Logf("epoch %d: loss %.3f, train τ(3) %.3f (%v)", ep, met.Loss(), met.AcceptanceLength(), time.Since(t0).Round(time.Second))
	}
	ddir := filepath.Join(t.TempDir(), "draft")
	if err := m.Save(ddir); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("SPEC_CLOSING_OUT"); out != "" {
		if err := m.Save(out); err != nil {
			t.Fatal(err)
		}
	}
	// Offline τ on held-out hidden states, written as hs_{i}.safetensors.
	hsDir := t.TempDir()
	for i, s := range held {
		S, A, H := len(s.IDs), m.A, m.H
		hs := make([]float32, S*(A+1)*H)
		for t := range S {
			copy(hs[t*(A+1)*H:], s.Aux[t*A*H:(t+1)*A*H])
			copy(hs[t*(A+1)*H+A*H:], s.VerifierLast[t*H:(t+1)*H])
		}
		hb, _ := safetensors.EncodeFloat32(safetensors.F32, hs)
		tid := make([]byte, 8*S)
		mask := make([]byte, 8*S)
		for j, id := range s.IDs {
			tid[8*j], tid[8*j+1] = byte(id), byte(id>>8)
			mask[8*j] = byte(s.LossMask[j])
		}
		if err := safetensors.WriteFile(filepath.Join(hsDir, fmt.Sprintf("hs_%d.safetensors", i)), []safetensors.Tensor{
			{Name: "hidden_states", DType: safetensors.F32, Shape: []int64{int64(S), int64(A + 1), int64(H)}, Data: hb},
			{Name: "token_ids", DType: safetensors.I64, Shape: []int64{int64(S)}, Data: tid},
			{Name: "loss_mask", DType: safetensors.I64, Shape: []int64{int64(S)}, Data: mask}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := eagle3.Load(ddir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.LoadVerifierWeights(vdir); err != nil {
		t.Fatal(err)
	}
	off, err := Offline(loaded, hsDir, OfflineOptions{K: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offline (teacher-forced on generated tokens): full_acc %v", fmtF(off.FullAcc))

	// Online: held-out prompts (the first promptLen tokens of held samples).
	prompts := make([][]int32, 16)
	for i := range prompts {
		prompts[i] = held[i].IDs[:promptLen]
	}
	d, err := NewDraftFor(loaded, v)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%-4s %-3s %8s %8s %10s %10s %9s  %s", "T", "k", "τ", "τ off", "spec tok/s", "base tok/s", "speedup", "per position")
	for _, temp := range []float64{0, 1} {
		for k := 1; k <= 5; k++ {
			offTau := 1.0
			for _, a := range off.FullAcc[:k] {
				offTau += a
			}
			var sp []float64
			var r *OnlineReport
			for rep := range 3 {
				dr, err := d(promptLen + genLen + k + 1)
				if err != nil {
					t.Fatal(err)
				}
				r, err = Online(v, dr, prompts, OnlineOptions{K: k, MaxTokens: genLen, Params: sample.Params{Temperature: temp, Seed: uint64(rep)}, Baseline: true})
				if err != nil {
					t.Fatal(err)
				}
				if temp == 0 && r.Mismatches != 0 {
					t.Fatalf("k=%d: %d greedy mismatches", k, r.Mismatches)
				}
				sp = append(sp, r.Speedup)
			}
			slices.Sort(sp)
			t.Logf("%-4g %-3d %8.3f %8.3f %10.1f %10.1f %8.2f×  %s (speedups %s)", temp, k, r.Tau, offTau, r.SpecTokensPerSecond, r.BaseTokensPerSecond, sp[1], fmtF(r.PerPosition), fmtF(sp))
		}
	}
}

// NewDraftFor returns a factory of EAGLE-3 drafters for m on verifier v.
func NewDraftFor(m *eagle3.Model, v *llama.Model) (func(maxLen int) (spec.Drafter, error), error) {
	return func(maxLen int) (spec.Drafter, error) { return spec.NewEagle3(m, v.N(), maxLen) }, nil
}

func fmtF(x []float64) string {
	s := "["
	for i, v := range x {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.3f", v)
	}
	return s + "]"
}
