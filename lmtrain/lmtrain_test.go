package lmtrain

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/tensor"
)

// tinyDims has GQA (2 heads sharing 1 kv head) and 2 layers.
func tinyDims(tied bool) Dims {
	return Dims{H: 16, I: 24, L: 2, NH: 2, KVH: 1, HD: 8, V: 37, Eps: 1e-6,
		Rope: tensor.RoPEConfig{Theta: 10000, HeadDim: 8}, Tied: tied}
}

// tinyBatch packs two documents and padding into 12 positions.
func tinyBatch(r *rand.Rand, v int) (ids, pos, doc, labels []int32) {
	lens := []int{5, 4}
	for d, n := range lens {
		for j := range n {
			ids = append(ids, int32(r.IntN(v)))
			pos = append(pos, int32(j))
			doc = append(doc, int32(d))
		}
	}
	for len(ids) < 12 {
		ids, pos, doc = append(ids, 0), append(pos, 0), append(doc, -1)
	}
	labels = make([]int32, len(ids))
	for i := range labels {
		labels[i] = -1
		if i+1 < len(ids) && doc[i] >= 0 && doc[i+1] == doc[i] {
			labels[i] = ids[i+1]
		}
	}
	return
}

// The explicit backward matches central finite differences of the loss for
// sampled coordinates of every tensor (tied and untied head).
func TestGradientFiniteDifference(t *testing.T) {
	for _, tied := range []bool{false, true} {
		d := tinyDims(tied)
		m, err := New(d, 12, 3)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(7, 7))
		for _, p := range m.Params { // larger weights than the init so every path matters
			for j := range p.W {
				if p.Rows > 0 {
					p.W[j] = float32(r.NormFloat64() * 0.3)
				} else {
					p.W[j] = float32(1 + 0.2*r.NormFloat64())
				}
			}
		}
		ids, pos, doc, labels := tinyBatch(r, d.V)
		loss, gs := make([]float32, 12), make([]float32, 12)
		m.ZeroGrad()
		if _, _, err := m.Loss(ids, pos, doc, labels, true, loss, gs); err != nil {
			t.Fatal(err)
		}
		f := func() float64 {
			l, _, err := m.Loss(ids, pos, doc, labels, false, loss, gs)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		const h = 1e-2
		for _, p := range m.Params {
			for range 6 {
				j := r.IntN(len(p.W))
				w0 := p.W[j]
				p.W[j] = w0 + h
				lp := f()
				p.W[j] = w0 - h
				lm := f()
				p.W[j] = w0
				fd := (lp - lm) / (2 * h)
				if g := float64(p.G[j]); math.Abs(g-fd) > 2e-3+0.03*math.Abs(fd) {
					t.Errorf("tied=%v %s[%d]: backward %.6f, finite difference %.6f", tied, p.Name, j, g, fd)
				}
			}
		}
	}
}

// The saved bf16 checkpoint loads in the verifier runtime (an independent
// forward) and gives the trainer's logits for each packed document.
func TestSavedMatchesRuntime(t *testing.T) {
	d := tinyDims(false)
	m, err := New(d, 12, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for _, p := range m.Params {
		for j := range p.W {
			v := float32(r.NormFloat64() * 0.3)
			if p.Rows == 0 {
				v += 1
			}
			p.W[j] = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(v)) // exact in bf16
		}
	}
	dir := t.TempDir()
	cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": d.H, "intermediate_size": d.I, "num_hidden_layers": d.L, "num_attention_heads": d.NH,
		"num_key_value_heads": d.KVH, "head_dim": d.HD, "vocab_size": d.V, "rms_norm_eps": 1e-6,
		"rope_theta": 10000.0, "max_position_embeddings": 64, "tie_word_embeddings": false}
	if err := m.SaveHF(dir, cfg); err != nil {
		t.Fatal(err)
	}
	rt, err := llama.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, pos, doc, _ := tinyBatch(r, d.V)
	if err := m.Forward(ids, pos, doc); err != nil {
		t.Fatal(err)
	}
	for _, span := range [][2]int{{0, 5}, {5, 9}} {
		out, err := rt.NewState(1).ForwardSeq(0, ids[span[0]:span[1]], llama.ForwardOptions{Logits: llama.LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		for i := span[0]; i < span[1]; i++ {
			got := out.TokenLogits(0, i-span[0])
			want := m.Logits[i*d.V : (i+1)*d.V]
			for j := range want {
				if math.Abs(float64(got[j]-want[j])) > 1e-3*(1+math.Abs(float64(want[j]))) {
					t.Fatalf("position %d logit %d: runtime %g, trainer %g", i, j, got[j], want[j])
				}
			}
		}
	}
	if _, err := safetensors.Open(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
}

// A short run on a tiny repetitive corpus drives the loss well down, and a
// checkpoint resumes to the same weights as an uninterrupted run.
func TestShortRunAndResume(t *testing.T) {
	d := tinyDims(false)
	r := rand.New(rand.NewPCG(1, 2))
	var docs [][]int32
	for range 8 { // counting sequences: predictable after the first token
		s := int32(r.IntN(10))
		doc := make([]int32, 10)
		for j := range doc {
			doc[j] = s + int32(j)
		}
		docs = append(docs, doc)
	}
	o := Options{Steps: 60, Warmup: 5, LR: 1e-2, MinLR: 1e-3, WeightDecay: 0.01, Clip: 1, CheckpointEvery: 0}
	run := func(steps int, ckpt string, resume bool) (*Trainer, float64, float64) {
		m, err := New(d, 24, 1)
		if err != nil {
			t.Fatal(err)
		}
		tr := NewTrainer(m, &Packer{Docs: docs, T: 24, Seed: 4}, nil, o)
		if resume {
			if ok, err := tr.LoadCheckpoint(ckpt); !ok || err != nil {
				t.Fatalf("resume: %v %v", ok, err)
			}
		}
		var first, last float64
		for tr.Step < steps {
			l, _, _, err := tr.TrainStep()
			if err != nil {
				t.Fatal(err)
			}
			if first == 0 {
				first = l
			}
			last = l
		}
		if ckpt != "" && !resume {
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				t.Fatal(err)
			}
		}
		return tr, first, last
	}
	full, first, last := run(60, "", false)
	if !(last < 0.5*first) {
		t.Fatalf("loss %.3f -> %.3f: not learning", first, last)
	}
	ckpt := t.TempDir()
	run(30, ckpt, false)
	resumed, _, _ := run(60, ckpt, true)
	for i, p := range full.M.Params {
		q := resumed.M.Params[i]
		for j := range p.W {
			if p.W[j] != q.W[j] {
				t.Fatalf("%s[%d]: resumed %g, uninterrupted %g", p.Name, j, q.W[j], p.W[j])
			}
		}
	}
}

func TestPackerCoversDocs(t *testing.T) {
	docs := [][]int32{{1, 2, 3}, {4, 5}, {6, 7, 8, 9, 10}, {11}}
	p := &Packer{Docs: docs, T: 6, Seed: 1}
	var b Batch
	seen := map[int32]bool{}
	for p.Epoch == 0 {
		p.Next(&b)
		for i, id := range b.IDs {
			if b.Doc[i] >= 0 {
				seen[id] = true
			}
			if b.Labels[i] >= 0 && (i+1 >= len(b.IDs) || b.IDs[i+1] != b.Labels[i]) && b.Pos[i+1] != 0 {
				t.Fatalf("label %d at %d does not follow %v", b.Labels[i], i, b.IDs)
			}
		}
	}
	for _, d := range docs {
		if !seen[d[0]] {
			t.Fatalf("document starting %d never packed", d[0])
		}
	}
}
