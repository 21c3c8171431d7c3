package spec

import (
	"testing"

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
