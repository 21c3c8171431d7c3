package lmtrain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/speculators-go/speculators/internal/atomicfile"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/tensor"
)

// Options controls a training run.
type Options struct {
	Steps           int     // optimizer steps
	Warmup          int     // linear warm-up steps
	LR, MinLR       float64 // peak and final learning rate (cosine between)
	WeightDecay     float64 // on 2-D weights
	Clip            float32 // global gradient-norm clip; 0 disables
	CheckpointEvery int     // steps between resumable checkpoints; 0 disables
	LogEvery        int     // steps between progress lines
	Log             io.Writer
}

// LR is the learning rate at step (0-based): linear warm-up, then cosine
// from LR down to MinLR at Steps.
func (o Options) LRAt(step int) float64 {
	if step < o.Warmup {
		return o.LR * float64(step+1) / float64(o.Warmup)
	}
	if o.Steps <= o.Warmup {
		return o.LR
	}
	p := min(float64(step-o.Warmup)/float64(o.Steps-o.Warmup), 1)
	return o.MinLR + (o.LR-o.MinLR)*0.5*(1+math.Cos(math.Pi*p))
}

// Trainer couples a model, its optimizer and the data cursor.
type Trainer struct {
	M      *Model
	Opt    *tensor.AdamW
	Data   *Packer
	Valid  *Packer // may be nil
	Step   int
	O      Options
	batch  Batch
	loss   []float32
	gscale []float32
	grads  [][]float32
}

// NewTrainer wires a model to data.
func NewTrainer(m *Model, data, valid *Packer, o Options) *Trainer {
	t := &Trainer{M: m, Opt: tensor.NewAdamW(o.LR, o.WeightDecay), Data: data, Valid: valid, O: o,
		loss: make([]float32, m.T), gscale: make([]float32, m.T)}
	t.Opt.Beta2 = 0.95
	for _, p := range m.Params {
		t.grads = append(t.grads, p.G)
	}
	return t
}

// TrainStep runs one optimizer step and returns the mean loss, the labelled
// tokens and the gradient norm before clipping.
func (t *Trainer) TrainStep() (float64, int, float32, error) {
	t.Data.Next(&t.batch)
	b := &t.batch
	t.M.ZeroGrad()
	loss, n, err := t.M.Loss(b.IDs, b.Pos, b.Doc, b.Labels, true, t.loss, t.gscale)
	if err != nil {
		return 0, 0, 0, err
	}
	coef := float32(1)
	var norm float32
	if t.O.Clip > 0 {
		norm, coef = tensor.ClipCoef(t.grads, t.O.Clip)
	}
	t.Opt.LR = t.O.LRAt(t.Step)
	t.Opt.StepScaled(t.M.Params, coef)
	t.Step++
	return loss, n, norm, nil
}

// Eval returns the mean loss over one pass of the validation documents.
func (t *Trainer) Eval() (float64, error) {
	if t.Valid == nil {
		return math.NaN(), nil
	}
	v := *t.Valid
	v.Epoch, v.Index = 0, 0
	var b Batch
	var sum float64
	var n int
	for v.Epoch == 0 {
		v.Next(&b)
		l, k, err := t.M.Loss(b.IDs, b.Pos, b.Doc, b.Labels, false, t.loss, t.gscale)
		if err != nil {
			return 0, err
		}
		sum += l * float64(k)
		n += k
	}
	return sum / float64(max(n, 1)), nil
}

// Run trains until O.Steps, logging progress and writing checkpoints to
// ckptDir (when not empty).
func (t *Trainer) Run(ckptDir string) error {
	log := t.O.Log
	if log == nil {
		log = io.Discard
	}
	every := max(t.O.LogEvery, 1)
	start := time.Now()
	var sumLoss float64
	var sumTok, steps int
	last := time.Now()
	for t.Step < t.O.Steps {
		loss, n, norm, err := t.TrainStep()
		if err != nil {
			return err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("lmtrain: loss %v at step %d", loss, t.Step)
		}
		sumLoss += loss
		sumTok += n
		steps++
		if t.Step%every == 0 || t.Step == t.O.Steps {
			el := time.Since(last).Seconds()
			fmt.Fprintf(log, "train-lm: step %d/%d loss %.4f lr %.2e gnorm %.2f %.0f tok/s epoch %d elapsed %s\n",
				t.Step, t.O.Steps, sumLoss/float64(steps), t.Opt.LR, norm, float64(sumTok)/el, t.Data.Epoch,
				time.Since(start).Round(time.Second))
			sumLoss, sumTok, steps, last = 0, 0, 0, time.Now()
		}
		if ckptDir != "" && t.O.CheckpointEvery > 0 && (t.Step%t.O.CheckpointEvery == 0 || t.Step == t.O.Steps) {
			vl, err := t.Eval()
			if err != nil {
				return err
			}
			if err := t.SaveCheckpoint(ckptDir); err != nil {
				return err
			}
			fmt.Fprintf(log, "train-lm: step %d valid loss %.4f, checkpoint saved\n", t.Step, vl)
		}
	}
	return nil
}

const ckptFile = "state.safetensors"

// SaveCheckpoint writes weights, AdamW moments and the data cursor (F32) to
// dir/state.safetensors atomically.
func (t *Trainer) SaveCheckpoint(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lmtrain: %w", err)
	}
	var ts []safetensors.Tensor
	for _, p := range t.M.Params {
		if p.M == nil {
			p.M, p.V = make([]float32, len(p.W)), make([]float32, len(p.W))
		}
		for _, e := range []struct {
			suffix string
			x      []float32
		}{{"", p.W}, {".exp_avg", p.M}, {".exp_avg_sq", p.V}} {
			b, err := safetensors.EncodeFloat32(safetensors.F32, e.x)
			if err != nil {
				return err
			}
			ts = append(ts, safetensors.Tensor{Name: p.Name + e.suffix, DType: safetensors.F32, Shape: []int64{int64(len(e.x))}, Data: b})
		}
	}
	meta := map[string]string{"step": strconv.Itoa(t.Step), "adam_step": strconv.Itoa(t.Opt.StepCount),
		"epoch": strconv.Itoa(t.Data.Epoch), "index": strconv.Itoa(t.Data.Index), "data_seed": strconv.FormatUint(t.Data.Seed, 10)}
	return safetensors.WriteFile(filepath.Join(dir, ckptFile), ts, meta)
}

// LoadCheckpoint restores a SaveCheckpoint state; it reports false when dir
// has none.
func (t *Trainer) LoadCheckpoint(dir string) (bool, error) {
	path := filepath.Join(dir, ckptFile)
	f, err := safetensors.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	meta := f.Metadata()
	geti := func(k string) (int, error) {
		v, err := strconv.Atoi(meta[k])
		if err != nil || v < 0 {
			return 0, fmt.Errorf("lmtrain: %s: metadata %q = %q", path, k, meta[k])
		}
		return v, nil
	}
	var vals [4]int
	for i, k := range []string{"step", "adam_step", "epoch", "index"} {
		if vals[i], err = geti(k); err != nil {
			return false, err
		}
	}
	if vals[3] >= len(t.Data.Docs) {
		return false, fmt.Errorf("lmtrain: %s: data index %d beyond %d documents (different input?)", path, vals[3], len(t.Data.Docs))
	}
	if meta["data_seed"] != strconv.FormatUint(t.Data.Seed, 10) {
		return false, fmt.Errorf("lmtrain: %s: data seed %s, run has %d", path, meta["data_seed"], t.Data.Seed)
	}
	for _, p := range t.M.Params {
		p.M, p.V = make([]float32, len(p.W)), make([]float32, len(p.W))
		for _, e := range []struct {
			suffix string
			x      []float32
		}{{"", p.W}, {".exp_avg", p.M}, {".exp_avg_sq", p.V}} {
			v, err := f.Float32(p.Name + e.suffix)
			if err != nil {
				return false, fmt.Errorf("lmtrain: %s: %w", path, err)
			}
			if len(v) != len(e.x) {
				return false, fmt.Errorf("lmtrain: %s: %s has %d values, model needs %d", path, p.Name+e.suffix, len(v), len(e.x))
			}
			copy(e.x, v)
		}
	}
	t.Step, t.Opt.StepCount, t.Data.Epoch, t.Data.Index = vals[0], vals[1], vals[2], vals[3]
	return true, nil
}

// SaveHF writes model.safetensors (bf16, Hugging Face names) and
// config.json (cfg with torch_dtype bfloat16) into dir.
func (m *Model) SaveHF(dir string, cfg map[string]any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lmtrain: %w", err)
	}
	var ts []safetensors.Tensor
	for _, e := range m.W.list(m.D) {
		b, err := safetensors.EncodeFloat32(safetensors.BF16, *e.x)
		if err != nil {
			return err
		}
		shape := []int64{int64(e.cols)}
		if e.rows > 0 {
			shape = []int64{int64(e.rows), int64(e.cols)}
		}
		ts = append(ts, safetensors.Tensor{Name: e.name, DType: safetensors.BF16, Shape: shape, Data: b})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	cfg["torch_dtype"] = "bfloat16"
	return WriteJSON(filepath.Join(dir, "config.json"), cfg)
}

// WriteJSON writes v indented with sorted keys, atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("lmtrain: %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}
