package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/internal/boundedfile"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/tensor"
	"github.com/speculators-go/speculators/vocab"
)

// Options are the settings of a training run, named after scripts/train.py's
// flags; Defaults gives the values of training-spec §6.1.
type Options struct {
	VerifierPath     string // --verifier-name-or-path: a local HF model directory
	DataPath         string // --data-path: prepared rows (and hidden_states/, d2t/t2d, token_freq.pt)
	HiddenStatesPath string // --hidden-states-path; default <data-path>/hidden_states
	SavePath         string // --save-path
	TokenFreqPath    string // --token-freq-path; default <data-path>/token_freq.pt
	D2TPath, T2DPath string // --d2t-path, --t2d-path
	FromPretrained   string // --from-pretrained: a speculators eagle3 checkpoint
	DryRun           bool   // save the initialised model to --save-path and stop

	Draft DraftOptions
	Optim OptimOptions

	StepLossDecay float64 // --ttt-step-loss-decay (1)
	LossFn        string  // --loss-fn (kl_div, or a JSON dict of weights)

	Epochs         int
	MaxSteps       int    // stop after this many optimizer steps in total (0: no limit)
	Scheduler      string // linear, cosine, none
	WarmupSteps    int    // -1: unset
	WarmupRatio    float64
	TotalSteps     int // 0: epochs · batches per epoch
	CosineCycles   float64
	TotalSeqLen    int     // T (8192)
	TrainDataRatio float64 // 0.9
	NoiseStd       float64 // 0.05 (uniform half-width)
	Seed           uint64  // 42: model init and noise
	CheckpointFreq float64 // 1: every epoch; < 1: also every that fraction of an epoch
	SaveBest       bool
	Resume         bool // resume from the newest complete checkpoint (default true)
	LogFreq        int  // log every this many steps (1)

	Command []byte    // train_command.txt contents
	Log     io.Writer // progress and warnings (stderr)
	NoPlot  bool

	// interrupt is a test hook: when it returns true after a step, the run
	// behaves as on SIGINT (checkpoint, then ErrInterrupted).
	interrupt func(globalStep int) bool
}

// Defaults returns the eagle3 defaults of training-spec §6.1.
func Defaults() Options {
	return Options{
		Draft: DraftOptions{Arch: "llama", NumLayers: 1, TTTSteps: 3, SlidingWindow: 2048,
			NormBeforeResidual: true, NormBeforeFC: true, NormOutput: true},
		Optim: OptimOptions{Type: "muon", LR: 1e-4, WeightDecay: 0.01, MuonWeightDecay: 0.1,
			MuonMomentum: 0.95, MuonNSSteps: 5, MuonAdjustLR: "match_rms_adamw"},
		StepLossDecay: 1, LossFn: "kl_div", Epochs: 20, Scheduler: "linear", WarmupSteps: -1,
		CosineCycles: 0.5, TotalSeqLen: 8192, TrainDataRatio: 0.9, NoiseStd: 0.05, Seed: 42,
		CheckpointFreq: 1, Resume: true, LogFreq: 1, SavePath: "./output/checkpoints", DataPath: "./output",
	}
}

// ErrInterrupted is returned when the run was stopped (context cancelled)
// after saving a checkpoint to resume from.
var ErrInterrupted = errors.New("train: interrupted; re-run the same command to resume")

// Summary reports a finished run.
type Summary struct {
	Epochs, Steps      int
	FirstStep          int // global step the run started at (> 0 after a resume)
	ResumedFrom        int // checkpoint epoch, −1 for a fresh run
	TrainTokens        int64
	Seconds            float64
	TokensPerSecond    float64
	LastTrain, LastVal map[string]float64
	BestValLoss        float64
	BestEpoch          int
	Plot               string
}

type runner struct {
	o        Options
	logf     func(format string, args ...any)
	m        *eagle3.Model
	cfg      *config.Speculator
	terms    []eagle3.LossTerm
	opts     []*optimizer
	sched    Schedule
	trainR   []Row
	valR     []Row
	trainLen []int
	valLen   []int
	ld       *loader
	ws       *eagle3.Workspace
	jsonl    *os.File
	tb       *EventWriter
	global   int
	bestVal  float64
	bestEp   int
	sum      Summary
}

// Run trains a draft as Options describe. Cancelling ctx stops after the
// current step, saves a checkpoint of the exact position and returns
// ErrInterrupted.
func Run(ctx context.Context, o Options) (*Summary, error) {
	r := &runner{o: o, bestVal: math.Inf(1), bestEp: -1}
	if o.Log == nil {
		o.Log = io.Discard
	}
	r.logf = func(format string, args ...any) { fmt.Fprintf(o.Log, format+"\n", args...) }
	r.o = o
	if err := r.setup(); err != nil {
		return nil, err
	}
	if o.DryRun {
		if err := r.m.Save(o.SavePath); err != nil {
			return nil, err
		}
		r.logf("train: dry run: saved the initialised draft to %s", o.SavePath)
		return &r.sum, nil
	}
	defer r.close()
	err := r.loop(ctx)
	if err != nil && !errors.Is(err, ErrInterrupted) {
		return nil, err
	}
	if !o.NoPlot {
		p := filepath.Join(o.SavePath, "training_curves.png")
		if perr := PlotMetrics(filepath.Join(o.SavePath, "metrics.jsonl"), p); perr != nil {
			r.logf("train: plot: %v", perr)
		} else {
			r.sum.Plot = p
		}
	}
	r.sum.BestValLoss, r.sum.BestEpoch = r.bestVal, r.bestEp
	return &r.sum, err
}

func (r *runner) check() error {
	o := &r.o
	switch {
	case o.VerifierPath == "":
		return fmt.Errorf("train: --verifier-name-or-path is required")
	case o.SavePath == "":
		return fmt.Errorf("train: --save-path is empty")
	case o.Epochs <= 0 && !o.DryRun:
		return fmt.Errorf("train: --epochs %d must be positive", o.Epochs)
	case o.TotalSeqLen < 2 || o.TotalSeqLen > 1<<20:
		return fmt.Errorf("train: --total-seq-len %d out of range [2, %d]", o.TotalSeqLen, 1<<20)
	case !(o.CheckpointFreq > 0):
		return fmt.Errorf("train: --checkpoint-freq %g must be > 0", o.CheckpointFreq)
	case o.Draft.TTTSteps <= 0 || o.Draft.TTTSteps > 64:
		return fmt.Errorf("train: --ttt-steps %d out of range [1, 64]", o.Draft.TTTSteps)
	case !(o.StepLossDecay > 0):
		return fmt.Errorf("train: --ttt-step-loss-decay %g must be > 0", o.StepLossDecay)
	case o.NoiseStd < 0 || math.IsNaN(o.NoiseStd):
		return fmt.Errorf("train: --noise-std %g must be >= 0", o.NoiseStd)
	case !(o.Optim.LR > 0):
		return fmt.Errorf("train: --lr %g must be > 0", o.Optim.LR)
	case (o.D2TPath == "") != (o.T2DPath == ""):
		return fmt.Errorf("train: --d2t-path and --t2d-path must be given together")
	}
	if o.LogFreq <= 0 {
		o.LogFreq = 1
	}
	if o.HiddenStatesPath == "" {
		o.HiddenStatesPath = filepath.Join(o.DataPath, "hidden_states")
	}
	if o.TokenFreqPath == "" {
		o.TokenFreqPath = filepath.Join(o.DataPath, "token_freq.pt")
	}
	return nil
}

// vocabMapping resolves d2t/t2d as parse_vocab_mappings does (training-spec
// §3.3); ok is false when the full vocabulary is used.
func (r *runner) vocabMapping(V int) (vocab.Mapping, bool, error) {
	o := &r.o
	vd := o.Draft.DraftVocabSize
	if o.D2TPath != "" {
		mp, err := vocab.Load(o.D2TPath, o.T2DPath)
		return mp, true, err
	}
	d2t, t2d := filepath.Join(o.DataPath, "d2t.npy"), filepath.Join(o.DataPath, "t2d.npy")
	if fileExists(d2t) && fileExists(t2d) {
		mp, err := vocab.Load(d2t, t2d)
		return mp, true, err
	}
	if vd > 0 && vd < V && fileExists(o.TokenFreqPath) {
		freq, err := vocab.ReadTokenFreq(o.TokenFreqPath)
		if err != nil {
			return vocab.Mapping{}, false, err
		}
		mp, err := vocab.Build(freq, vd, V)
		if err != nil {
			return vocab.Mapping{}, false, err
		}
		if err := mp.Save(o.DataPath); err != nil {
			r.logf("train: could not cache d2t/t2d in %s: %v", o.DataPath, err)
		} else {
			r.logf("train: built a %d-token draft vocabulary from %s, cached as %s and %s", vd, o.TokenFreqPath, d2t, t2d)
		}
		return mp, true, nil
	}
	if vd > 0 && vd < V {
		return vocab.Mapping{}, false, fmt.Errorf("train: --draft-vocab-size %d needs a vocabulary mapping: --d2t-path/--t2d-path, %s and %s, or %s", vd, d2t, t2d, o.TokenFreqPath)
	}
	return vocab.Mapping{}, false, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func (r *runner) setup() error {
	o := &r.o
	if err := r.check(); err != nil {
		return err
	}
	vi, err := readVerifierConfig(o.VerifierPath)
	if err != nil {
		return err
	}
	mp, haveMap, err := r.vocabMapping(vi.vocab)
	if err != nil {
		return err
	}
	if haveMap {
		if len(mp.T2D) != vi.vocab {
			return fmt.Errorf("train: t2d covers %d tokens, the verifier vocabulary has %d", len(mp.T2D), vi.vocab)
		}
		if o.Draft.DraftVocabSize > 0 && o.Draft.DraftVocabSize != len(mp.D2T) && o.Draft.DraftVocabSize != vi.vocab {
			return fmt.Errorf("train: --draft-vocab-size %d differs from the mapping's %d tokens", o.Draft.DraftVocabSize, len(mp.D2T))
		}
		o.Draft.DraftVocabSize = len(mp.D2T)
	}
	if o.Draft.VerifierNameOrPath == "" {
		o.Draft.VerifierNameOrPath = o.VerifierPath
	}
	if o.FromPretrained != "" && !hasWeights(o.FromPretrained) {
		// A directory with only a config gives a fresh initialisation of
		// that architecture (training-spec §6.4).
		cfg, err := config.Load(filepath.Join(o.FromPretrained, "config.json"))
		if err != nil {
			return fmt.Errorf("train: --from-pretrained: %w", err)
		}
		m, err := eagle3.New(cfg, eagle3.Options{Seed: o.Seed})
		if err != nil {
			return err
		}
		r.m, r.cfg = m, cfg
		r.logf("train: %s has no weights; initialising its architecture afresh", o.FromPretrained)
	} else if o.FromPretrained != "" {
		m, err := eagle3.Load(o.FromPretrained)
		if err != nil {
			return err
		}
		r.m, r.cfg = m, m.Cfg
	} else {
		cfg, err := draftConfigFrom(vi, o.Draft)
		if err != nil {
			return err
		}
		m, err := eagle3.New(cfg, eagle3.Options{Seed: o.Seed})
		if err != nil {
			return err
		}
		r.m, r.cfg = m, cfg
	}
	if haveMap && r.m.Vd != r.m.V {
		if err := r.m.SetVocab(mp.D2T, mp.T2D); err != nil {
			return err
		}
	}
	if err := r.m.LoadVerifierWeights(o.VerifierPath); err != nil {
		return err
	}
	if r.terms, err = eagle3.ParseLoss(o.LossFn); err != nil {
		return err
	}
	if r.opts, err = buildOptimizers(r.m, o.Optim); err != nil {
		return err
	}
	if o.DryRun {
		return nil
	}
	rows, err := ReadRows(o.DataPath)
	if err != nil {
		return err
	}
	if r.trainR, r.valR, err = Split(rows, o.TrainDataRatio); err != nil {
		return err
	}
	if len(r.trainR) == 0 {
		return fmt.Errorf("train: %s: no training rows (%d rows, ratio %g)", o.DataPath, len(rows), o.TrainDataRatio)
	}
	lens := func(rs []Row) []int {
		out := make([]int, len(rs))
		for i, x := range rs {
			out[i] = len(x.InputIDs)
		}
		return out
	}
	r.trainLen, r.valLen = lens(r.trainR), lens(r.valR)
	r.ld = &loader{hsDir: o.HiddenStatesPath, A: r.m.A, H: r.m.H, V: r.m.V, warn: r.logf}
	steps := len(Batches(r.trainLen, o.TotalSeqLen, 1, 0, 0, 0))
	if r.sched, err = ResolveSchedule(o.Scheduler, o.WarmupSteps, o.WarmupRatio, o.TotalSteps, o.Epochs, steps, o.CosineCycles); err != nil {
		return err
	}
	r.logf("train: %d rows: %d training (%d packed batches of <= %d tokens per epoch), %d validation; draft %s, %d layer(s), hidden %d, vocabulary %d of %d; %d trainable tensors; optimizers %s",
		len(rows), len(r.trainR), steps, o.TotalSeqLen, len(r.valR), r.m.Arch, r.m.L, r.m.H, r.m.Vd, r.m.V, len(r.m.Params()), optNames(r.opts))
	return nil
}

func optNames(opts []*optimizer) string {
	var s []string
	for _, o := range opts {
		s = append(s, fmt.Sprintf("%s(%d)", o.name, len(o.params)))
	}
	return strings.Join(s, "+")
}

func (r *runner) close() {
	if r.jsonl != nil {
		r.jsonl.Close()
	}
	if r.tb != nil {
		r.tb.Close()
	}
}

// resume restores the newest complete checkpoint and returns the epoch and
// the batches of it already done.
func (r *runner) resume() (epoch, skip int, err error) {
	o := &r.o
	r.sum.ResumedFrom = -1
	if !o.Resume {
		return 0, 0, nil
	}
	ep, bad, err := LatestCheckpoint(o.SavePath)
	if err != nil {
		return 0, 0, err
	}
	for _, b := range bad {
		r.logf("train: warning: ignoring incomplete or corrupt checkpoint %s", b)
	}
	if ep < 0 {
		return 0, 0, nil
	}
	dir := filepath.Join(o.SavePath, strconv.Itoa(ep))
	st, err := readTrainingState(filepath.Join(dir, TrainingStateFile))
	if err != nil {
		return 0, 0, err
	}
	if err := loadOptimizer(filepath.Join(dir, OptimizerFile), r.m, r.opts); err != nil {
		return 0, 0, err
	}
	if fileExists(filepath.Join(dir, SchedulerFile)) {
		n, err := loadScheduler(filepath.Join(dir, SchedulerFile))
		if err != nil {
			return 0, 0, err
		}
		if n != st.GlobalStep {
			return 0, 0, fmt.Errorf("train: %s: scheduler at step %d, training state at %d", dir, n, st.GlobalStep)
		}
	}
	r.global = st.GlobalStep
	r.sum.ResumedFrom = ep
	if b, e := r.readBest(); e >= 0 {
		r.bestVal, r.bestEp = b, e
	}
	if st.Epoch == ep && st.LocalStep > 0 {
		r.logf("train: resuming from %s inside epoch %d after %d batches (global step %d)", dir, ep, st.LocalStep, st.GlobalStep)
		return ep, st.LocalStep, nil
	}
	r.logf("train: resuming from %s at epoch %d (global step %d)", dir, ep+1, st.GlobalStep)
	return ep + 1, 0, nil
}

// readBest returns the validation loss of checkpoint_best, as Python's
// load_best_val_loss does.
func (r *runner) readBest() (float64, int) {
	link := filepath.Join(r.o.SavePath, BestLink)
	t, err := os.Readlink(link)
	if err != nil {
		return 0, -1
	}
	ep, err := strconv.Atoi(filepath.Base(t))
	if err != nil {
		return 0, -1
	}
	data, err := boundedfile.Read(filepath.Join(r.o.SavePath, strconv.Itoa(ep), ValMetricsFile), maxSmallFileSize)
	if err != nil {
		return 0, -1
	}
	var v map[string]float64
	if json.Unmarshal(data, &v) != nil {
		return 0, -1
	}
	l, ok := v["loss_epoch"]
	if !ok {
		return 0, -1
	}
	return l, ep
}

func (r *runner) openLogs() error {
	o := &r.o
	if err := os.MkdirAll(o.SavePath, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if o.Command != nil {
		if err := writeFileAtomic(filepath.Join(o.SavePath, TrainCommandFile), o.Command); err != nil {
			return err
		}
	}
	p := filepath.Join(o.SavePath, "metrics.jsonl")
	if r.sum.ResumedFrom < 0 {
		os.Remove(p)
	} else if err := truncateMetrics(p, r.global); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	r.jsonl = f
	if r.tb, err = NewEventWriter(filepath.Join(o.SavePath, "tensorboard")); err != nil {
		return err
	}
	return nil
}

// truncateMetrics drops metrics.jsonl lines of steps at or after step (the
// part of an interrupted run that the resume will redo).
func truncateMetrics(path string, step int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var keep []byte
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasSuffix(line, "\n") {
			break // a torn last line
		}
		var e struct {
			GlobalStep *int           `json:"global_step"`
			Train      map[string]any `json:"train"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.GlobalStep == nil {
			continue
		}
		if e.Train != nil && *e.GlobalStep >= step || e.Train == nil && *e.GlobalStep > step {
			continue
		}
		keep = append(keep, line...)
	}
	return writeFileAtomic(path, keep)
}

func (r *runner) loop(ctx context.Context) error {
	o := &r.o
	startEpoch, skip, err := r.resume()
	if err != nil {
		return err
	}
	r.sum.FirstStep = r.global
	if err := r.openLogs(); err != nil {
		return err
	}
	r.ws = r.m.NewWorkspace(o.TotalSeqLen, o.Draft.TTTSteps)
	ws := r.ws
	bufs := [2]*eagle3.Batch{r.newBatch(), r.newBatch()}
	start := time.Now()
	for epoch := startEpoch; epoch < o.Epochs; epoch++ {
		batches := Batches(r.trainLen, o.TotalSeqLen, 1, 0, 0, epoch)
		n := len(batches)
		interval := 0
		if o.CheckpointFreq < 1 {
			interval = max(1, int(math.Round(float64(n)*o.CheckpointFreq)))
		}
		r.logf("train: epoch %d/%d: %d batches", epoch+1, o.Epochs, n)
		type loaded struct {
			b   *eagle3.Batch
			err error
		}
		fetch := func(i int, b *eagle3.Batch) chan loaded {
			ch := make(chan loaded, 1)
			go func() {
				err := r.ld.fill(b, r.rowsOf(r.trainR, batches[i]))
				ch <- loaded{b, err}
			}()
			return ch
		}
		var next chan loaded
		if skip < n {
			next = fetch(skip, bufs[skip%2])
		}
		for i := skip; i < n; i++ {
			got := <-next
			if got.err != nil {
				return got.err
			}
			if i+1 < n {
				next = fetch(i+1, bufs[(i+1)%2])
			}
			if err := r.step(ws, got.b, epoch, i, n, start); err != nil {
				return err
			}
			local := i + 1
			stop := ctx.Err() != nil || (o.interrupt != nil && o.interrupt(r.global))
			if stop {
				if i+1 < n {
					<-next
				}
				if local < n {
					if err := r.save(epoch, local, nil); err != nil {
						return err
					}
				} else if err := r.endEpoch(epoch); err != nil {
					return err
				}
				r.logf("train: interrupted at epoch %d step %d/%d (global step %d); checkpoint saved", epoch, local, n, r.global)
				return ErrInterrupted
			}
			if interval > 0 && !o.SaveBest && local%interval == 0 && float64(n-local) >= float64(interval)*0.25 {
				if err := r.save(epoch, local, nil); err != nil {
					return err
				}
			}
			if o.MaxSteps > 0 && r.global >= o.MaxSteps {
				if i+1 < n {
					<-next
				}
				r.logf("train: reached --max-steps %d", o.MaxSteps)
				if local < n {
					return r.save(epoch, local, nil)
				}
				return r.endEpoch(epoch)
			}
		}
		skip = 0
		if err := r.endEpoch(epoch); err != nil {
			return err
		}
		r.sum.Epochs++
	}
	r.sum.Seconds = time.Since(start).Seconds()
	if r.sum.Seconds > 0 {
		r.sum.TokensPerSecond = float64(r.sum.TrainTokens) / r.sum.Seconds
	}
	r.logf("train: done: %d steps (global step %d), %d training tokens in %.1fs (%.0f tokens/s); %d samples loaded, %d skipped; best validation loss %.4f at epoch %d; checkpoints in %s",
		r.sum.Steps, r.global, r.sum.TrainTokens, r.sum.Seconds, r.sum.TokensPerSecond, r.ld.loaded, r.ld.skip, r.bestVal, r.bestEp, r.o.SavePath)
	return nil
}

func (r *runner) newBatch() *eagle3.Batch {
	return eagle3.NewBatch(r.o.TotalSeqLen, r.m.A*r.m.H, r.m.H)
}

func (r *runner) rowsOf(rows []Row, idx []int) []Row {
	out := make([]Row, len(idx))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out
}

// step runs one optimizer step (training-spec §6.2).
func (r *runner) step(ws *eagle3.Workspace, b *eagle3.Batch, epoch, i, n int, start time.Time) error {
	o := &r.o
	t0 := time.Now()
	r.m.ZeroGrad()
	met, err := r.m.Forward(ws, b, eagle3.StepOptions{TTTSteps: o.Draft.TTTSteps, StepDecay: o.StepLossDecay, Loss: r.terms,
		Grad: true, NoiseStd: float32(o.NoiseStd), NoiseSeed: o.Seed<<32 ^ uint64(r.global)})
	if err != nil {
		return err
	}
	vals := met.Values()
	r.m.Backward(ws)
	gn := tensor.ClipGradNorm(r.m.Grads(), 1)
	f := r.sched.Factor(r.global)
	lrs := map[string]float64{}
	for _, op := range r.opts {
		lrs[op.name] = op.step(f)
	}
	if math.IsNaN(vals["loss"]) || math.IsInf(vals["loss"], 0) {
		return fmt.Errorf("train: loss is %g at global step %d", vals["loss"], r.global)
	}
	tokens := 0
	for _, d := range b.Doc[:b.T] {
		if d >= 0 {
			tokens++
		}
	}
	dt := time.Since(t0)
	r.sum.Steps++
	r.sum.TrainTokens += int64(tokens)
	r.sum.LastTrain = vals
	step := r.global
	r.global++
	if step%o.LogFreq != 0 {
		return nil
	}
	tps := float64(tokens) / dt.Seconds()
	var lrInfo any = lrs
	if len(lrs) == 1 {
		for _, v := range lrs {
			lrInfo = v
		}
	}
	line := map[string]any{"train": vals, "epoch": epoch, "lr": lrInfo, "global_step": step,
		"grad_norm": float64(gn), "tokens": tokens, "tokens_per_s": tps, "step_ms": float64(dt.Microseconds()) / 1e3}
	if err := r.writeJSONL(line); err != nil {
		return err
	}
	tb := map[string]float64{"profile/step_ms": float64(dt.Microseconds()) / 1e3, "train/grad_norm": float64(gn), "train/tokens_per_s": tps}
	order := []string{"profile/step_ms", "train/grad_norm", "train/tokens_per_s"}
	for k, v := range vals {
		tb["train/"+k] = v
		order = append(order, "train/"+k)
	}
	for k, v := range lrs {
		tb["lr/"+k] = v
		order = append(order, "lr/"+k)
	}
	slices.Sort(order)
	if err := r.tb.Scalars(int64(step), time.Now(), tb, order); err != nil {
		return err
	}
	var acc strings.Builder
	for k := 0; k < o.Draft.TTTSteps; k++ {
		fmt.Fprintf(&acc, " %.3f", vals[fmt.Sprintf("full_acc_%d", k)])
	}
	done := r.sum.Steps
	el := time.Since(start)
	left := ""
	if rem := (n - i - 1) + (o.Epochs-epoch-1)*n; done > 0 && rem > 0 {
		left = " eta " + (el / time.Duration(done) * time.Duration(rem)).Round(time.Second).String()
	}
	lrMain := lrs["AdamW"]
	if lrMain == 0 {
		for _, v := range lrs {
			lrMain = v
		}
	}
	r.logf("epoch %d/%d step %d/%d [%d] loss %.4f full_acc%s AL %.3f | %d tok %.0f tok/s | lr %.3g gnorm %.3g%s",
		epoch+1, o.Epochs, i+1, n, step, vals["loss"], acc.String(), vals["acceptance_length"], tokens, tps, lrMain, gn, left)
	return nil
}

func (r *runner) writeJSONL(v any) error {
	data, err := json.Marshal(sanitize(v))
	if err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	if _, err := r.jsonl.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	return nil
}

// sanitize replaces non-finite floats (which JSON cannot hold) by null.
func sanitize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = sanitize(e)
		}
		return out
	case map[string]float64:
		out := map[string]any{}
		for k, e := range x {
			out[k] = sanitize(e)
		}
		return out
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	}
	return v
}

// validate runs the validation rows without noise or gradients and
// returns the metrics with the _epoch suffix (training-spec §5.6).
func (r *runner) validate(epoch int) (map[string]float64, error) {
	if len(r.valR) == 0 {
		return nil, nil
	}
	o := &r.o
	batches := Batches(r.valLen, o.TotalSeqLen, 1, 0, 0, epoch)
	if len(batches) == 0 {
		return nil, nil
	}
	ws := r.ws // the training step's activations are no longer needed
	b := r.newBatch()
	var total eagle3.Metrics
	for _, idx := range batches {
		if err := r.ld.fill(b, r.rowsOf(r.valR, idx)); err != nil {
			return nil, err
		}
		met, err := r.m.Forward(ws, b, eagle3.StepOptions{TTTSteps: o.Draft.TTTSteps, StepDecay: o.StepLossDecay, Loss: r.terms})
		if err != nil {
			return nil, err
		}
		total.Add(met)
	}
	out := map[string]float64{}
	for k, v := range total.Values() {
		out[k+"_epoch"] = v
	}
	return out, nil
}

// endEpoch validates, saves on the cadence of training-spec §6.4 and
// moves checkpoint_best.
func (r *runner) endEpoch(epoch int) error {
	o := &r.o
	val, err := r.validate(epoch)
	if err != nil {
		return err
	}
	if val != nil {
		r.sum.LastVal = val
		if err := r.writeJSONL(map[string]any{"val": val, "epoch": epoch, "global_step": r.global}); err != nil {
			return err
		}
		tb := map[string]float64{}
		var order []string
		for k, v := range val {
			tb["val/"+k] = v
			order = append(order, "val/"+k)
		}
		slices.Sort(order)
		if err := r.tb.Scalars(int64(r.global), time.Now(), tb, order); err != nil {
			return err
		}
		var acc strings.Builder
		for k := 0; k < o.Draft.TTTSteps; k++ {
			fmt.Fprintf(&acc, " %.3f", val[fmt.Sprintf("full_acc_%d_epoch", k)])
		}
		r.logf("validation epoch %d: loss %.4f full_acc%s AL %.3f", epoch+1, val["loss_epoch"], acc.String(), val["acceptance_length_epoch"])
	}
	r.tb.Flush()
	improved := val != nil && val["loss_epoch"] < r.bestVal
	saveNow := !o.SaveBest && (o.CheckpointFreq < 1 || epoch == 0 || (epoch+1)%int(o.CheckpointFreq) == 0)
	if o.SaveBest {
		saveNow = improved
	}
	if saveNow {
		if err := r.save(epoch, 0, val); err != nil {
			return err
		}
	}
	if improved && saveNow {
		r.bestVal, r.bestEp = val["loss_epoch"], epoch
		if err := setLink(o.SavePath, BestLink, strconv.Itoa(epoch)); err != nil {
			return err
		}
		r.logf("train: checkpoint_best -> %d (loss_epoch %.6f)", epoch, r.bestVal)
		if o.SaveBest {
			r.keepOnly(epoch)
		}
	}
	return nil
}

// keepOnly deletes every epoch directory but keep (--save-best).
func (r *runner) keepOnly(keep int) {
	eps, _ := epochDirs(r.o.SavePath)
	for _, e := range eps {
		if e != keep {
			os.RemoveAll(filepath.Join(r.o.SavePath, strconv.Itoa(e)))
		}
	}
	links, _ := filepath.Glob(filepath.Join(r.o.SavePath, "epoch*_*"))
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && t != strconv.Itoa(keep) {
			os.Remove(l)
		}
	}
}

// save writes checkpoint <epoch> after `local` batches of it (0: the epoch
// is complete).
func (r *runner) save(epoch, local int, val map[string]float64) error {
	st := TrainingState{Epoch: epoch, LocalStep: local, GlobalStep: r.global}
	t0 := time.Now()
	err := saveCheckpoint(r.o.SavePath, epoch, r.m, saveState{opts: r.opts, sched: r.sched, state: st, command: r.o.Command, valMetrics: val})
	if err != nil {
		return err
	}
	r.logf("train: saved checkpoint %s (epoch %d, step %d, global step %d) in %.1fs", filepath.Join(r.o.SavePath, strconv.Itoa(epoch)), epoch, local, r.global, time.Since(t0).Seconds())
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := config.WriteFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

func hasWeights(dir string) bool {
	return fileExists(filepath.Join(dir, "model.safetensors")) || fileExists(filepath.Join(dir, "model.safetensors.index.json"))
}
