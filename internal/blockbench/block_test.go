package blockbench

import (
	"math"
	"testing"

	"github.com/speculators-go/speculators/internal/golden"
	"github.com/speculators-go/speculators/tensor"
)

// goldenBlock loads testdata/block.{json,bin} from gen_block.py (PyTorch).
func goldenBlock(t *testing.T) (*golden.File, *Block) {
	t.Helper()
	f, err := golden.Open("testdata/block")
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) int {
		v, err := f.MetaFloat(k)
		if err != nil {
			t.Fatal(err)
		}
		return int(v)
	}
	eps, _ := f.MetaFloat("eps")
	theta, _ := f.MetaFloat("theta")
	c := Config{Hidden: get("H"), Seq: get("T"), Heads: get("NH"), KVHeads: get("KVH"), MLP: get("I"), Vocab: get("V"), Eps: float32(eps), Theta: theta}
	b, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.W.list() {
		copy(*e.x, f32(t, f, "w."+e.name))
	}
	return f, b
}

func f32(t *testing.T, f *golden.File, name string) []float32 {
	t.Helper()
	x, _, err := f.F32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func i32(t *testing.T, f *golden.File, name string) []int32 {
	t.Helper()
	x, _, err := f.I32(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// goldenLoss is the loss of gen_block.py: masked-mean CE on labels plus
// masked-mean KL to the target logits. It fills b.DLogits().
func goldenLoss(b *Block, labels []int32, targets, mask []float32) float64 {
	c := b.Cfg
	T, V := c.Seq, c.Vocab
	dl := b.DLogits()
	clear(dl)
	var msum float32
	for _, m := range mask {
		msum += m
	}
	gs := make([]float32, T)
	for i, m := range mask {
		gs[i] = m / (msum + 1e-5)
	}
	ce := make([]float32, T)
	tensor.CrossEntropy(ce, dl, b.Logits, labels, gs, T, V)
	kl := tensor.MaskedLoss(tensor.LossKL, dl, b.Logits, targets, mask, 1, T, V, 0, make([]float32, 2*T))
	var s float64
	for i, l := range ce {
		s += float64(l * mask[i])
	}
	return s/float64(msum+1e-5) + float64(kl)
}

func checkClose(t *testing.T, name string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if lim := atol + rtol*math.Abs(float64(want[i])); !(d <= lim) && (at < 0 || d-lim > worst) {
			worst, at = d-lim, i
		}
	}
	if at >= 0 {
		t.Errorf("%s: element %d = %g, want %g", name, at, got[at], want[at])
	} else {
		t.Logf("%s: OK", name)
	}
}

func TestGoldenBlock(t *testing.T) {
	f, b := goldenBlock(t)
	x, pos, doc := f32(t, f, "x"), i32(t, f, "pos"), i32(t, f, "doc")
	labels, targets, mask := i32(t, f, "labels"), f32(t, f, "targets"), f32(t, f, "mask")
	b.ZeroGrad()
	b.Forward(x, pos, doc)
	checkClose(t, "logits", b.Logits, f32(t, f, "logits"), 2e-5, 2e-5)
	loss := goldenLoss(b, labels, targets, mask)
	checkClose(t, "loss", []float32{float32(loss)}, f32(t, f, "loss"), 0, 1e-5)
	checkClose(t, "dlogits", b.DLogits(), f32(t, f, "dlogits"), 1e-7, 1e-4)
	dx := b.Backward()
	checkClose(t, "dx", dx, f32(t, f, "dx"), 1e-6, 1e-3)
	for _, e := range b.G.list() {
		checkClose(t, "grad "+e.name, *e.x, f32(t, f, "g."+e.name), 1e-6, 1e-3)
	}
}

// TestBlockGradFD checks the composed backward by central differences on a
// few entries of every weight.
func TestBlockGradFD(t *testing.T) {
	f, b := goldenBlock(t)
	x, pos, doc := f32(t, f, "x"), i32(t, f, "pos"), i32(t, f, "doc")
	labels, targets, mask := i32(t, f, "labels"), f32(t, f, "targets"), f32(t, f, "mask")
	lossAt := func() float64 { b.Forward(x, pos, doc); return goldenLoss(b, labels, targets, mask) }
	b.ZeroGrad()
	lossAt()
	b.Backward()
	const h = 1e-2
	for i, e := range b.W.list() {
		g := *b.G.list()[i].x
		w := *e.x
		for _, j := range []int{0, len(w) / 3, len(w) / 2, len(w) - 1} {
			old := w[j]
			w[j] = old + h
			lp := lossAt()
			w[j] = old - h
			lm := lossAt()
			w[j] = old
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(fd - float64(g[j])); d > 2e-3+2e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %g, finite difference %g", e.name, j, g[j], fd)
			}
		}
	}
}

func TestTrainerLearns(t *testing.T) {
	c := Config{Hidden: 32, Seq: 24, Heads: 4, KVHeads: 2, MLP: 48, Vocab: 16, Eps: 1e-6, Theta: 1e4}
	tr, err := NewTrainer(c, 3, 60)
	if err != nil {
		t.Fatal(err)
	}
	tr.LR, tr.Warmup = 3e-2, 2
	first := tr.Step()
	var last float32
	for range 40 {
		last = tr.Step()
	}
	if !(last < first*0.8) {
		t.Errorf("loss went from %g to %g; want a clear decrease", first, last)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Hidden: 0, Seq: 4, Heads: 1, KVHeads: 1, MLP: 4, Vocab: 4},
		{Hidden: 32, Seq: 4, Heads: 4, KVHeads: 3, MLP: 4, Vocab: 4},
		{Hidden: 30, Seq: 4, Heads: 4, KVHeads: 4, MLP: 4, Vocab: 4},
	} {
		if _, err := New(c, 1); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

func BenchmarkTrainStep(b *testing.B) {
	c := DefaultConfig()
	if testing.Short() {
		c.Seq, c.Vocab = 128, 1024
	}
	tr, err := NewTrainer(c, 1, 1000)
	if err != nil {
		b.Fatal(err)
	}
	tr.Step()
	b.ReportAllocs()
	for b.Loop() {
		tr.Step()
	}
	b.ReportMetric(float64(c.Seq)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
