package blockbench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/speculators-go/speculators/tensor"
)

// Trainer runs full training steps of the bench workload: forward,
// cross-entropy over the classes, backward, global-norm clipping to 1.0 and
// AdamW (lr 1e-4 with 10 warm-up steps and cosine decay, weight decay 0.01 on
// the 2-D weights).
type Trainer struct {
	B      *Block
	Opt    *tensor.AdamW
	X      []float32 // (T, H) random input
	Labels []int32   // (T) random classes
	Pos    []int32   // (T) 0..T-1
	LR     float64
	Warmup int
	Total  int
	Clip   float32

	step         int
	loss, gscale []float32
	grads        [][]float32
}

// NewTrainer builds the workload with random data from seed.
func NewTrainer(c Config, seed uint64, totalSteps int) (*Trainer, error) {
	b, err := New(c, seed)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0xda7a))
	t := &Trainer{B: b, Opt: tensor.NewAdamW(1e-4, 0.01), X: make([]float32, c.Seq*c.Hidden),
		Labels: make([]int32, c.Seq), Pos: make([]int32, c.Seq), LR: 1e-4, Warmup: 10, Total: totalSteps, Clip: 1,
		loss: make([]float32, c.Seq), gscale: make([]float32, c.Seq)}
	for i := range t.X {
		t.X[i] = float32(r.NormFloat64())
	}
	for i := range t.Labels {
		t.Labels[i] = int32(r.IntN(c.Vocab))
		t.Pos[i] = int32(i)
		t.gscale[i] = 1 / float32(c.Seq) // mean over tokens
	}
	for _, p := range b.Params {
		t.grads = append(t.grads, p.G)
	}
	return t, nil
}

// Step runs one training step and returns the mean cross-entropy.
func (t *Trainer) Step() float32 {
	c := t.B.Cfg
	t.B.ZeroGrad()
	t.B.Forward(t.X, t.Pos, nil)
	dl := t.B.DLogits()
	clear(dl)
	tensor.CrossEntropy(t.loss, dl, t.B.Logits, t.Labels, t.gscale, c.Seq, c.Vocab)
	t.B.Backward()
	// clip_grad_norm_ then AdamW, with the clipping scale applied inside the
	// update instead of in a separate pass over the gradients.
	_, coef := tensor.ClipCoef(t.grads, t.Clip)
	t.Opt.LR = CosineLR(t.LR, t.step, t.Warmup, t.Total)
	t.Opt.StepScaled(t.B.Params, coef)
	t.step++
	var s float32
	for _, l := range t.loss {
		s += l
	}
	return s / float32(c.Seq)
}

// Result is what `speculators bench block` reports: the median step by wall
// clock, and the median CPU time of a step over all threads (steadier than
// the wall clock when other processes share the cores).
type Result struct {
	TokensPerS float64 `json:"tokens_per_s"`
	StepMS     float64 `json:"step_ms"`
	StepCPUMS  float64 `json:"step_cpu_ms"`
}

// Run times steps training steps after warmup untimed ones and reports the
// median step. Progress lines go to log (may be nil).
func Run(c Config, steps, warmup int, log io.Writer) (Result, error) {
	if steps < 1 || warmup < 0 {
		return Result{}, fmt.Errorf("blockbench: need steps ≥ 1 and warmup ≥ 0")
	}
	t, err := NewTrainer(c, 1, steps+warmup)
	if err != nil {
		return Result{}, err
	}
	times := make([]float64, 0, steps)
	cpus := make([]float64, 0, steps)
	for i := 0; i < steps+warmup; i++ {
		start, c0 := time.Now(), cpuTime()
		loss := t.Step()
		d := time.Since(start).Seconds()
		if i >= warmup {
			times = append(times, d)
			cpus = append(cpus, (cpuTime() - c0).Seconds())
		}
		if log != nil {
			fmt.Fprintf(log, "step %d/%d loss %.4f %.1f ms\n", i+1, steps+warmup, loss, d*1000)
		}
	}
	med := median(times)
	return Result{TokensPerS: float64(c.Seq) / med, StepMS: med * 1000, StepCPUMS: median(cpus) * 1000}, nil
}

func median(x []float64) float64 {
	slices.Sort(x)
	m := x[len(x)/2]
	if len(x)%2 == 0 {
		m = (x[len(x)/2-1] + x[len(x)/2]) / 2
	}
	return m
}
