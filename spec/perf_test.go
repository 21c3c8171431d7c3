package spec

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
)

// bundledShape is a verifier shaped like the bundled quick-start model:
// hidden 320, 6 layers, 5 heads of 64, MLP 960, vocabulary 4096.
func bundledShape() testmodel.Options {
	o := testmodel.Tiny("llama")
	o.Hidden, o.Layers, o.Heads, o.KVHeads, o.Intermediate, o.Vocab = 320, 6, 5, 5, 960, 4096
	return o
}

// bundledDraft is a 1-layer EAGLE-3 draft for v with a 1024-token draft vocabulary.
func bundledDraft(t testing.TB, v *llama.Model) *eagle3.Model {
	t.Helper()
	o := testckpt.Tiny()
	o.Hidden, o.Heads, o.KVHeads, o.HeadDim, o.Intermediate = v.H(), 5, 5, 64, 3*v.H()
	o.Vocab, o.DraftVocab, o.AuxIDs = v.V(), 1024, v.DefaultAuxLayers()
	o.DType = safetensors.F32
	cfg, err := testckpt.Config(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := eagle3.New(cfg, eagle3.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	d2t, t2d := testckpt.VocabMap(v.V(), 1024, 3)
	if err := m.SetVocab(d2t, t2d); err != nil {
		t.Fatal(err)
	}
	if err := m.SetVerifierWeights(v.Embed, v.LMHead, v.Norm); err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchmarkSpecParts times the pieces of one speculative step on the
// bundled-verifier shape after 64 cached tokens: a verifier decode step
// (1 token, last logits), a verify pass over k+1 = 4 tokens (all logits and
// the aux captures), a draft Step and a draft Extend of 1 and 4 positions.
// Speculation at k = 3 wins when τ > (verify4 + 3·step) / decode.
func BenchmarkSpecParts(b *testing.B) {
	v, _ := loadTiny(b, bundledShape(), "verifier")
	ctx := make([]int32, 64)
	for i := range ctx {
		ctx[i] = int32((i * 37) % v.V())
	}
	pass := func(name string, n int, opt llama.ForwardOptions) {
		b.Run(name, func(b *testing.B) {
			st := v.NewState(1)
			if _, err := st.ForwardSeq(0, ctx, llama.ForwardOptions{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.ForwardSeq(0, ctx[:n], opt); err != nil {
					b.Fatal(err)
				}
				st.Truncate(0, len(ctx))
			}
		})
	}
	pass("decode", 1, llama.ForwardOptions{Logits: llama.LogitsLast})
	for _, n := range []int{2, 3, 4} {
		pass("verify"+string(rune('0'+n)), n, llama.ForwardOptions{Logits: llama.LogitsAll, Capture: v.DefaultAuxLayers()})
	}

	dm := bundledDraft(b, v)
	AH := dm.A * dm.H
	aux := make([]float32, len(ctx)*AH)
	for i := range aux {
		aux[i] = float32(i%13)/13 - 0.5
	}
	prime := func() *eagle3.Drafter {
		d := dm.NewDrafter(len(ctx)+16, len(ctx))
		if _, _, err := d.Extend(ctx, aux, 1); err != nil {
			b.Fatal(err)
		}
		return d
	}
	b.Run("draft-step", func(b *testing.B) {
		d := prime()
		hid := make([]float32, dm.H)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := d.Step(5, hid, len(ctx)+1); err != nil {
				b.Fatal(err)
			}
			d.Truncate(len(ctx))
		}
	})
	for _, n := range []int{1, 4} {
		b.Run("draft-extend"+string(rune('0'+n)), func(b *testing.B) {
			d := prime()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.Extend(ctx[:n], aux[:n*AH], len(ctx)+1); err != nil {
					b.Fatal(err)
				}
				d.Truncate(len(ctx))
			}
		})
		b.Run("draft-extendlast"+string(rune('0'+n)), func(b *testing.B) {
			d := prime()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.ExtendLast(ctx[:n], aux[:n*AH], len(ctx)+1); err != nil {
					b.Fatal(err)
				}
				d.Truncate(len(ctx))
			}
		})
	}
}

// BenchmarkSpecRatios interleaves the pieces of a round on the
// bundled-verifier shape in every iteration (decode step, verify passes
// over 2, 3 and 4 tokens, draft ExtendLast of 4 verified tokens, draft
// Step) and reports the median time of each and the break-even τ for
// k = 1..3: a round yields τ tokens for verify(k+1) + extend + (k−1)·step,
// plain decoding τ·decode (extend over 4 tokens bounds the m+1 ≤ k+1 a
// round re-enters). Interleaving makes the ratios robust to the load of a
// shared machine.
func BenchmarkSpecRatios(b *testing.B) {
	v, _ := loadTiny(b, bundledShape(), "verifier")
	ctx := make([]int32, 64)
	for i := range ctx {
		ctx[i] = int32((i * 37) % v.V())
	}
	st := v.NewState(1)
	if _, err := st.ForwardSeq(0, ctx, llama.ForwardOptions{}); err != nil {
		b.Fatal(err)
	}
	dm := bundledDraft(b, v)
	AH := dm.A * dm.H
	aux := make([]float32, len(ctx)*AH)
	for i := range aux {
		aux[i] = float32(i%13)/13 - 0.5
	}
	d := dm.NewDrafter(len(ctx)+16, len(ctx))
	if _, _, err := d.Extend(ctx, aux, 1); err != nil {
		b.Fatal(err)
	}
	hid := make([]float32, dm.H)
	dec := llama.ForwardOptions{Logits: llama.LogitsLast}
	ver := llama.ForwardOptions{Logits: llama.LogitsAll, Capture: v.DefaultAuxLayers()}
	var tDec, tExt, tStep []float64
	tVer := make([][]float64, 5) // by tokens verified, 2..4
	lap := func(t0 time.Time, into *[]float64) time.Time {
		t1 := time.Now()
		*into = append(*into, float64(t1.Sub(t0).Nanoseconds())/1e6)
		return t1
	}
	for b.Loop() {
		t := time.Now()
		if _, err := st.ForwardSeq(0, ctx[:1], dec); err != nil {
			b.Fatal(err)
		}
		st.Truncate(0, len(ctx))
		t = lap(t, &tDec)
		for n := 2; n <= 4; n++ {
			if _, err := st.ForwardSeq(0, ctx[:n], ver); err != nil {
				b.Fatal(err)
			}
			st.Truncate(0, len(ctx))
			t = lap(t, &tVer[n])
		}
		if _, _, err := d.ExtendLast(ctx[:4], aux[:4*AH], len(ctx)+1); err != nil {
			b.Fatal(err)
		}
		d.Truncate(len(ctx))
		t = lap(t, &tExt)
		if _, _, err := d.Step(5, hid, len(ctx)+1); err != nil {
			b.Fatal(err)
		}
		d.Truncate(len(ctx))
		lap(t, &tStep)
	}
	med := func(x []float64) float64 {
		slices.Sort(x)
		return x[len(x)/2]
	}
	md, me, ms := med(tDec), med(tExt), med(tStep)
	b.ReportMetric(md, "decode-ms")
	b.ReportMetric(me, "extend4-ms")
	b.ReportMetric(ms, "step-ms")
	b.ReportMetric(ms/md, "step/decode")
	for k := 1; k <= 3; k++ {
		mv := med(tVer[k+1])
		b.ReportMetric(mv/md, fmt.Sprintf("verify%d/decode", k+1))
		// A round at k: verify k+1, re-enter the verified tokens, k−1 steps.
		b.ReportMetric((mv+me+float64(k-1)*ms)/md, fmt.Sprintf("breakeven-tau-k%d", k))
	}
}
