// Package quickstart runs the whole draft-model pipeline on a local verifier
// in one call: prompts, verifier responses, prepared rows, hidden states,
// draft vocabulary, EAGLE-3 training, validation and speculative-decoding
// evaluation. It exists so a newcomer sees a draft trained and accepted within
// minutes on a CPU, and so CI can run the same path end to end.
//
// Every stage writes under Options.Output and records completion in
// <stage>/stage.json (written last, atomically); a re-run skips completed
// stages and the stages themselves resume partial work.
package quickstart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/corpus"
	"github.com/speculators-go/speculators/datagen"
	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/eval"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/tokenizer"
	"github.com/speculators-go/speculators/train"
	"github.com/speculators-go/speculators/validate"
	"github.com/speculators-go/speculators/vocab"
)

// Options size the pipeline. Defaults gives the full quick start; tests
// shrink it.
type Options struct {
	Output   string // working folder; every stage writes below it
	Verifier string // Hugging Face verifier directory (config, weights, tokenizer, chat template)

	HeldOutEvery   int     // every n-th prompt of the built-in set is held out for eval
	SampledPerTurn int     // sampled (T = SampleTemp) responses per training prompt, besides the greedy one
	SampleTemp     float64 // temperature of the sampled responses
	MaxTokens      int     // tokens per regenerated response
	MaxPrompts     int     // use only the first n prompts of the built-in set (0: all)

	DraftVocabSize int // draft vocabulary (< the verifier's, so reduction is exercised)
	Epochs         int
	LR             float64 // AdamW learning rate (Muon uses 10×)
	TotalSeqLen    int     // packed training sequence length
	TTTSteps       int

	EvalK         []int // speculative tokens evaluated greedily
	EvalSampledK  int   // k evaluated at temperature 1 (0: none)
	EvalMaxTokens int   // new tokens per held-out prompt
	EvalPrompts   int   // held-out prompts evaluated (0: all)

	Seed uint64
	Log  io.Writer `json:"-"` // progress lines (stderr)
}

// Defaults are the sizes of `speculators quickstart`: a few minutes on two
// cores for the bundled verifier.
func Defaults() Options {
	return Options{
		Output: "quickstart-output", Verifier: filepath.Join("models", "fortune-llama"),
		HeldOutEvery: 5, SampledPerTurn: 6, SampleTemp: 1, MaxTokens: 96,
		DraftVocabSize: 1024, Epochs: 8, LR: 1e-3, TotalSeqLen: 2048, TTTSteps: 3,
		EvalK: []int{1, 2, 3, 4, 5}, EvalSampledK: 3, EvalMaxTokens: 96,
		Seed: 1,
	}
}

// Result is the pipeline's outcome, also written to summary.json.
type Result struct {
	Output        string                `json:"output"`
	Verifier      string                `json:"verifier"`
	Checkpoint    string                `json:"checkpoint"`
	TrainPrompts  int                   `json:"train_prompts"`
	HeldOut       int                   `json:"held_out_prompts"`
	Rows          int                   `json:"training_rows"`
	Tokens        int64                 `json:"training_tokens"`
	DraftVocab    int                   `json:"draft_vocab_size"`
	VerifierVocab int                   `json:"verifier_vocab_size"`
	Coverage      float64               `json:"draft_vocab_coverage"`
	Greedy        []*eval.OnlineReport  `json:"greedy"`
	Sampled       *eval.OnlineReport    `json:"sampled,omitempty"`
	BaseTPS       float64               `json:"plain_tokens_per_second"`
	Findings      []string              `json:"validation_findings"`
	Errors        int                   `json:"validation_errors"`
	Warnings      int                   `json:"validation_warnings"`
	Stages        map[string]StageTimes `json:"stages"`
	VLLM          []string              `json:"vllm_commands"`
}

// StageTimes says how long a stage took and whether this run skipped it.
type StageTimes struct {
	Seconds float64 `json:"seconds"`
	Skipped bool    `json:"skipped"`
}

// Tau returns τ of the greedy evaluation at k, or NaN when k was not run.
func (r *Result) Tau(k int) float64 {
	for _, g := range r.Greedy {
		if g.K == k {
			return g.Tau
		}
	}
	return math.NaN()
}

// Speedup returns the measured wall-clock speedup of greedy speculative
// decoding at k over plain decoding, or NaN when k was not run.
func (r *Result) Speedup(k int) float64 {
	for _, g := range r.Greedy {
		if g.K == k {
			return g.Speedup
		}
	}
	return math.NaN()
}

type runner struct {
	o     Options
	ctx   context.Context
	res   *Result
	start time.Time
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Log, "quickstart: [%5.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run runs every stage not yet complete and returns the summary.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Output, 0o755); err != nil {
		return nil, fmt.Errorf("quickstart: %w", err)
	}
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	r := &runner{o: o, ctx: ctx, start: time.Now(),
		res: &Result{Output: o.Output, Verifier: o.Verifier, Stages: map[string]StageTimes{}}}
	stages := []struct {
		name string
		fn   func(dir string) error
	}{
		{"prompts", r.prompts},
		{"regenerate", r.regenerate},
		{"prepare", r.prepare},
		{"hidden_states", r.hiddenStates},
		{"vocab", r.vocab},
		{"train", r.train},
		{"validate", r.validate},
		{"eval", r.eval},
	}
	for i, s := range stages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := r.dir(s.name)
		t0 := time.Now()
		if stageDone(dir) {
			r.logf("stage %d/%d %s: complete in %s, skipped", i+1, len(stages), s.name, dir)
			r.res.Stages[s.name] = StageTimes{Skipped: true}
			if err := r.load(s.name, dir); err != nil {
				return nil, err
			}
			continue
		}
		r.logf("stage %d/%d %s -> %s", i+1, len(stages), s.name, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("quickstart: %w", err)
		}
		if err := s.fn(dir); err != nil {
			return nil, fmt.Errorf("quickstart: %s: %w", s.name, err)
		}
		if err := markDone(dir, r.stageRecord(s.name)); err != nil {
			return nil, err
		}
		sec := time.Since(t0).Seconds()
		r.res.Stages[s.name] = StageTimes{Seconds: sec}
		r.logf("stage %d/%d %s: done in %.1fs", i+1, len(stages), s.name, sec)
	}
	r.res.VLLM = vllmCommands(r.res.Checkpoint, r.o.EvalK)
	b, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := safetensors.WriteAtomic(filepath.Join(o.Output, "summary.json"), append(b, '\n')); err != nil {
		return nil, err
	}
	return r.res, nil
}

func (o *Options) check() error {
	switch {
	case o.Output == "" || o.Verifier == "":
		return errors.New("quickstart: need an output folder and a verifier directory")
	case o.HeldOutEvery < 2:
		return errors.New("quickstart: held-out split needs every n-th prompt with n ≥ 2")
	case o.SampledPerTurn < 0 || o.SampleTemp < 0 || o.MaxTokens < 1 || o.EvalMaxTokens < 1:
		return errors.New("quickstart: sampled responses, temperatures and token counts must not be negative")
	case o.DraftVocabSize < 1 || o.Epochs < 1 || o.TotalSeqLen < 16 || o.TTTSteps < 1 || o.LR <= 0:
		return errors.New("quickstart: draft vocabulary, epochs, sequence length, TTT steps and learning rate must be positive")
	case len(o.EvalK) == 0:
		return errors.New("quickstart: no k to evaluate")
	}
	for _, k := range o.EvalK {
		if k < 1 || k > 16 {
			return fmt.Errorf("quickstart: k = %d outside 1..16", k)
		}
	}
	if o.EvalSampledK < 0 || o.EvalSampledK > 16 {
		return fmt.Errorf("quickstart: sampled k = %d outside 0..16", o.EvalSampledK)
	}
	if st, err := os.Stat(filepath.Join(o.Verifier, "model.safetensors")); err != nil || st.IsDir() {
		if _, err2 := os.Stat(filepath.Join(o.Verifier, "model.safetensors.index.json")); err2 != nil {
			return fmt.Errorf("quickstart: verifier %s: no model.safetensors (build it with scripts/build_verifier.sh)", o.Verifier)
		}
	}
	return nil
}

// checkOptions records the options in options.json on the first run and
// refuses a re-run with different ones: completed stages would otherwise be
// reused silently with the old settings.
func checkOptions(o Options) error {
	p := filepath.Join(o.Output, "options.json")
	o.Log, o.Output = nil, "" // the folder may be named differently next time
	cur, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	cur = append(cur, '\n')
	old, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return safetensors.WriteAtomic(p, cur)
	}
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if string(old) != string(cur) {
		var a, b map[string]any
		_ = json.Unmarshal(old, &a)
		_ = json.Unmarshal(cur, &b)
		var diff []string
		for k, v := range b {
			if fmt.Sprint(a[k]) != fmt.Sprint(v) {
				diff = append(diff, fmt.Sprintf("%s: %v -> %v", k, a[k], v))
			}
		}
		sort.Strings(diff)
		return fmt.Errorf("quickstart: %s was made with other options (%s); use another --output-path or delete it", filepath.Dir(p), strings.Join(diff, ", "))
	}
	return nil
}

func (r *runner) dir(stage string) string { return filepath.Join(r.o.Output, stage) }

// stage.json is the completion record: the stage's outputs are all in place
// when it exists.
const stageFile = "stage.json"

func stageDone(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stageFile))
	return err == nil
}

func markDone(dir string, rec any) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return safetensors.WriteAtomic(filepath.Join(dir, stageFile), append(b, '\n'))
}

func readStage(dir string, v any) error {
	p := filepath.Join(dir, stageFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("quickstart: %s: %w (delete it to redo the stage)", p, err)
	}
	return nil
}

// ---- stage records: what a later run needs from a skipped stage ----

type promptsRec struct {
	Train   int `json:"train"`
	HeldOut int `json:"held_out"`
}

type dataRec struct {
	Rows   int   `json:"rows"`
	Tokens int64 `json:"tokens"`
}

type vocabRec struct {
	Draft    int     `json:"draft_vocab_size"`
	Verifier int     `json:"verifier_vocab_size"`
	Coverage float64 `json:"coverage"`
}

type trainRec struct {
	Checkpoint string `json:"checkpoint"` // relative to Options.Output, so the folder can move
}

type validateRec struct {
	Findings         []string `json:"findings"`
	Errors, Warnings int
}

type evalRec struct {
	Greedy  []*eval.OnlineReport `json:"greedy"`
	Sampled *eval.OnlineReport   `json:"sampled,omitempty"`
	BaseTPS float64              `json:"plain_tokens_per_second"`
}

func (r *runner) stageRecord(stage string) any {
	s := r.res
	switch stage {
	case "prompts":
		return promptsRec{Train: s.TrainPrompts, HeldOut: s.HeldOut}
	case "prepare":
		return dataRec{Rows: s.Rows, Tokens: s.Tokens}
	case "vocab":
		return vocabRec{Draft: s.DraftVocab, Verifier: s.VerifierVocab, Coverage: s.Coverage}
	case "train":
		rel, err := filepath.Rel(r.o.Output, s.Checkpoint)
		if err != nil {
			rel = s.Checkpoint
		}
		return trainRec{Checkpoint: rel}
	case "validate":
		return validateRec{Findings: s.Findings, Errors: s.Errors, Warnings: s.Warnings}
	case "eval":
		return evalRec{Greedy: s.Greedy, Sampled: s.Sampled, BaseTPS: s.BaseTPS}
	}
	return struct{}{}
}

func (r *runner) load(stage, dir string) error {
	s := r.res
	switch stage {
	case "prompts":
		var v promptsRec
		if err := readStage(dir, &v); err != nil {
			return err
		}
		s.TrainPrompts, s.HeldOut = v.Train, v.HeldOut
	case "prepare":
		var v dataRec
		if err := readStage(dir, &v); err != nil {
			return err
		}
		s.Rows, s.Tokens = v.Rows, v.Tokens
	case "vocab":
		var v vocabRec
		if err := readStage(dir, &v); err != nil {
			return err
		}
		s.DraftVocab, s.VerifierVocab, s.Coverage = v.Draft, v.Verifier, v.Coverage
	case "train":
		var v trainRec
		if err := readStage(dir, &v); err != nil {
			return err
		}
		s.Checkpoint = v.Checkpoint
		if !filepath.IsAbs(v.Checkpoint) {
			s.Checkpoint = filepath.Join(r.o.Output, v.Checkpoint)
		}
	case "validate":
		var v validateRec
		if err := readStage(dir, &v); err != nil {
			return err
		}
		s.Findings, s.Errors, s.Warnings = v.Findings, v.Errors, v.Warnings
	case "eval":
		var v evalRec
		if err := readStage(dir, &v); err != nil {
			return err
		}
		s.Greedy, s.Sampled, s.BaseTPS = v.Greedy, v.Sampled, v.BaseTPS
	}
	return nil
}

// ---- stages ----

// keywords are common words of the fortunes (the longest word of an entry is
// what the verifier's prompts name, corpus.Keyword); with the topics and the
// prompt forms they make the built-in prompts, so the quick start needs no
// corpus on disk.
var keywords = []string{
	"computer", "program", "knowledge", "money", "business", "government", "nothing",
	"something", "everything", "problem", "question", "understand", "remember", "beautiful",
	"happiness", "yourself", "tomorrow", "together", "children", "friends", "universe",
	"experience", "important", "different", "impossible", "morning", "language", "history",
	"college", "machine", "software", "religion", "marriage", "dinner", "coffee", "trouble",
	"freedom", "character", "distance", "mistakes", "success",
}

// Prompts returns the built-in prompt set, suited to the bundled fortune
// verifier: every prompt form of its corpus (corpus.PromptForms: a topic and
// a keyword) for every topic, with keywords in rotation so every prompt is
// distinct.
func Prompts() []string {
	var ps []string
	i := 0
	for _, t := range corpus.Topics {
		name := strings.ReplaceAll(t, "-", " and ")
		for _, f := range corpus.PromptForms {
			ps = append(ps, fmt.Sprintf(f, name, keywords[i%len(keywords)]))
			i++
		}
	}
	return ps
}

// split puts every n-th prompt (rotating through the forms, so each topic
// and each form appear on both sides) in the held-out set.
func split(ps []string, n int) (trainP, heldOut []string) {
	for i, p := range ps {
		if i%n == n/2 {
			heldOut = append(heldOut, p)
		} else {
			trainP = append(trainP, p)
		}
	}
	return trainP, heldOut
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func (r *runner) prompts(dir string) error {
	ps := Prompts()
	if r.o.MaxPrompts > 0 && len(ps) > r.o.MaxPrompts {
		ps = ps[:r.o.MaxPrompts]
	}
	tr, ho := split(ps, r.o.HeldOutEvery)
	// The assistant turn is a placeholder that regenerate replaces.
	write := func(name string, ps []string, copies int) error {
		var b strings.Builder
		for c := 0; c < copies; c++ {
			for _, p := range ps {
				line, err := json.Marshal(map[string][]message{"messages": {{"user", p}, {"assistant", "..."}}})
				if err != nil {
					return err
				}
				b.Write(line)
				b.WriteByte('\n')
			}
		}
		return safetensors.WriteAtomic(filepath.Join(dir, name), []byte(b.String()))
	}
	if err := write("train.jsonl", tr, 1); err != nil {
		return err
	}
	if err := write("train_sampled.jsonl", tr, r.o.SampledPerTurn); err != nil {
		return err
	}
	if err := write("heldout.jsonl", ho, 1); err != nil {
		return err
	}
	r.res.TrainPrompts, r.res.HeldOut = len(tr), len(ho)
	r.logf("prompts: %d training, %d held out (%d forms × %d topics)", len(tr), len(ho), len(corpus.PromptForms), len(corpus.Topics))
	return nil
}

func (r *runner) regenerate(dir string) error {
	pdir := r.dir("prompts")
	logf := func(s string) { r.logf("%s", s) }
	runs := []struct {
		src, out string
		temp     float64
	}{
		{"train.jsonl", "greedy.jsonl", 0},
		{"train_sampled.jsonl", "sampled.jsonl", r.o.SampleTemp},
	}
	for _, run := range runs {
		if run.src == "train_sampled.jsonl" && r.o.SampledPerTurn == 0 {
			continue
		}
		sum, err := datagen.Regenerate(r.ctx, datagen.RegenOptions{
			Data: []string{filepath.Join(pdir, run.src)}, Output: filepath.Join(dir, run.out),
			Model: r.o.Verifier, MaxTokens: r.o.MaxTokens, Temperature: run.temp, Seed: r.o.Seed, Log: logf,
		})
		if err != nil {
			return err
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if len(sum.Failed) > 0 {
			return fmt.Errorf("%d conversations failed (first: %s: %s); re-run to retry", len(sum.Failed), sum.Failed[0].ID, sum.Failed[0].Err)
		}
	}
	return nil
}

func (r *runner) prepare(dir string) error {
	srcs := []string{filepath.Join(r.dir("regenerate"), "greedy.jsonl")}
	if r.o.SampledPerTurn > 0 {
		srcs = append(srcs, filepath.Join(r.dir("regenerate"), "sampled.jsonl"))
	}
	sum, err := dataset.Prepare(r.ctx, dataset.Options{
		Model: r.o.Verifier, Sources: srcs, Output: filepath.Join(dir, "data"),
		SeqLength: r.o.TotalSeqLen, Seed: r.o.Seed, Strict: true,
		Log: func(s string) { r.logf("%s", s) },
	})
	if err != nil {
		return err
	}
	r.res.Rows, r.res.Tokens = sum.Counts.RowsOut, sum.Counts.Tokens
	r.logf("prepare: %d rows, %d tokens (%d supervised)", sum.Counts.RowsOut, sum.Counts.Tokens, sum.Counts.SupervisedTokens)
	if sum.Counts.RowsOut == 0 {
		return errors.New("no training rows")
	}
	return nil
}

// auxLayers picks three distinct verifier layers to feed the draft:
// speculators' [2, N/2, N−3] where that is distinct and increasing, else
// low, middle and high layers of a shallow verifier.
func auxLayers(n int) []int {
	l := llama.DefaultAuxLayers(n)
	if n >= 6 {
		return l
	}
	return []int{1, max(n/2, 1), max(n-1, 1)}
}

func (r *runner) numLayers() (int, error) {
	cfg, err := llama.LoadConfig(filepath.Join(r.o.Verifier, "config.json"))
	if err != nil {
		return 0, err
	}
	return cfg.NumHiddenLayers, nil
}

func (r *runner) hiddenStates(dir string) error {
	n, err := r.numLayers()
	if err != nil {
		return err
	}
	sum, err := datagen.Run(r.ctx, datagen.Options{
		Prepared: filepath.Join(r.dir("prepare"), "data"), Output: filepath.Join(dir, "hidden_states"),
		Model: r.o.Verifier, Layers: auxLayers(n), Validate: true, FailOnError: true,
		Log: func(s string) { r.logf("%s", s) }, ProgressEvery: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	if sum.Aborted != "" || len(sum.Failed) > 0 {
		return fmt.Errorf("hidden states: %d rows failed %s", len(sum.Failed), sum.Aborted)
	}
	r.logf("hidden states: %d files (%d kept), %d tokens at %.0f tokens/s", sum.Written+sum.Kept, sum.Kept, sum.Tokens, sum.TokensPerSecond())
	return nil
}

func (r *runner) vocab(dir string) error {
	freq, err := vocab.ReadTokenFreq(filepath.Join(r.dir("prepare"), "data", "token_freq.pt"))
	if err != nil {
		return err
	}
	v, err := vocab.VerifierVocabSize(r.o.Verifier)
	if err != nil {
		return err
	}
	if r.o.DraftVocabSize > v {
		return fmt.Errorf("draft vocabulary %d is larger than the verifier's %d", r.o.DraftVocabSize, v)
	}
	m, err := vocab.Build(freq, r.o.DraftVocabSize, v)
	if err != nil {
		return err
	}
	if err := m.Save(dir); err != nil {
		return err
	}
	var covered, total int64
	for id, n := range freq {
		total += n
		if id >= 0 && id < len(m.T2D) && m.T2D[id] {
			covered += n
		}
	}
	r.res.DraftVocab, r.res.VerifierVocab = r.o.DraftVocabSize, v
	if total > 0 {
		r.res.Coverage = float64(covered) / float64(total)
	}
	r.logf("vocab: %d of %d verifier tokens; %d distinct supervised tokens; covers %.2f%% of them", r.o.DraftVocabSize, v, len(freq), 100*r.res.Coverage)
	return nil
}

func (r *runner) train(dir string) error {
	n, err := r.numLayers()
	if err != nil {
		return err
	}
	o := train.Defaults()
	o.VerifierPath = r.o.Verifier
	o.DataPath = filepath.Join(r.dir("prepare"), "data")
	o.HiddenStatesPath = filepath.Join(r.dir("hidden_states"), "hidden_states")
	o.D2TPath = filepath.Join(r.dir("vocab"), "d2t.npy")
	o.T2DPath = filepath.Join(r.dir("vocab"), "t2d.npy")
	o.SavePath = filepath.Join(dir, "checkpoints")
	o.Draft.DraftVocabSize = r.o.DraftVocabSize
	o.Draft.TargetLayerIDs = auxLayers(n)
	o.Draft.TTTSteps = r.o.TTTSteps
	o.Draft.VerifierNameOrPath = r.o.Verifier
	o.Optim.LR = r.o.LR
	o.Epochs = r.o.Epochs
	o.TotalSeqLen = r.o.TotalSeqLen
	o.Seed = r.o.Seed
	o.LogFreq = 20
	o.NoPlot = false
	o.Log = r.o.Log
	o.Command = []byte("speculators quickstart\n")
	sum, err := train.Run(r.ctx, o)
	if err != nil {
		return err
	}
	ep, _, err := train.LatestCheckpoint(o.SavePath)
	if err != nil {
		return err
	}
	if ep < 0 {
		return fmt.Errorf("no complete checkpoint in %s", o.SavePath)
	}
	r.res.Checkpoint = filepath.Join(o.SavePath, fmt.Sprint(ep))
	r.logf("train: %d steps, %d epochs, %.0f tokens/s; validation loss %.4f, full_acc_0 %.3f; checkpoint %s",
		sum.Steps, sum.Epochs, sum.TokensPerSecond, sum.LastVal["loss_epoch"], sum.LastVal["full_acc_0_epoch"], r.res.Checkpoint)
	return nil
}

func (r *runner) validate(dir string) error {
	rep, err := validate.Dir(r.res.Checkpoint)
	if err != nil {
		return err
	}
	r.res.Findings = nil
	for _, f := range rep.Findings {
		r.logf("validate: %s", f)
		r.res.Findings = append(r.res.Findings, f.String())
	}
	e, w := rep.Count()
	r.res.Errors, r.res.Warnings = e, w
	if !rep.OK() {
		return fmt.Errorf("checkpoint %s: %d errors, %d warnings", r.res.Checkpoint, e, w)
	}
	r.logf("validate: %s passes (%d errors, %d warnings)", r.res.Checkpoint, e, w)
	return nil
}

func (r *runner) eval(dir string) error {
	tok, err := tokenizer.LoadDir(r.o.Verifier)
	if err != nil {
		return err
	}
	tmpl, err := chat.Load(r.o.Verifier)
	if err != nil {
		return err
	}
	ps := Prompts()
	if r.o.MaxPrompts > 0 && len(ps) > r.o.MaxPrompts {
		ps = ps[:r.o.MaxPrompts]
	}
	_, ho := split(ps, r.o.HeldOutEvery)
	if r.o.EvalPrompts > 0 && len(ho) > r.o.EvalPrompts {
		ho = ho[:r.o.EvalPrompts]
	}
	ids := make([][]int32, len(ho))
	maxLen := 0
	for i, p := range ho {
		m, err := json.Marshal(message{"user", p})
		if err != nil {
			return err
		}
		text, err := tmpl.Render([]chat.Message{m}, chat.RenderOptions{AddGenerationPrompt: true})
		if err != nil {
			return err
		}
		for _, id := range tok.Encode(text, false) {
			ids[i] = append(ids[i], int32(id))
		}
		maxLen = max(maxLen, len(ids[i]))
	}
	v, err := llama.Load(r.o.Verifier)
	if err != nil {
		return err
	}
	eos, err := v.StopIDs(tok.EOS())
	if err != nil {
		return err
	}
	d, err := eval.LoadDraft(r.res.Checkpoint, r.o.Verifier, v)
	if err != nil {
		return err
	}
	run := func(k int, p sample.Params, baseline bool) (*eval.OnlineReport, error) {
		dr, err := d.Drafter(v, maxLen+r.o.EvalMaxTokens+k+1)
		if err != nil {
			return nil, err
		}
		rep, err := eval.Online(v, dr, ids, eval.OnlineOptions{K: k, MaxTokens: r.o.EvalMaxTokens, Params: p, EOS: eos, Baseline: baseline})
		if err != nil {
			return nil, err
		}
		rep.Verifier, rep.Speculator, rep.DraftKind = r.o.Verifier, r.res.Checkpoint, d.Kind
		if rep.Mismatches > 0 {
			return nil, fmt.Errorf("k=%d: speculative greedy output differs from plain greedy decoding on %d prompts", k, rep.Mismatches)
		}
		return rep, r.ctx.Err()
	}
	// Plain decoding is timed next to every greedy k (each run measures
	// its own baseline on the same prompts), so the speedups are side by
	// side even on a busy machine.
	r.res.Greedy = nil
	var base []float64
	for _, k := range r.o.EvalK {
		rep, err := run(k, sample.Params{}, true)
		if err != nil {
			return err
		}
		r.res.Greedy = append(r.res.Greedy, rep)
		base = append(base, rep.BaseTokensPerSecond)
		r.logf("eval k=%d greedy: τ %.3f, per position %s, %.0f tokens/s vs %.0f plain: speedup %.2f×",
			k, rep.Tau, rates(rep.PerPosition), rep.SpecTokensPerSecond, rep.BaseTokensPerSecond, rep.Speedup)
	}
	r.res.BaseTPS = median(base)
	if k := r.o.EvalSampledK; k > 0 {
		rep, err := run(k, sample.Params{Temperature: 1, Seed: r.o.Seed}, true)
		if err != nil {
			return err
		}
		r.res.Sampled = rep
		r.logf("eval k=%d T=1: τ %.3f, per position %s, speedup %.2f×", k, rep.Tau, rates(rep.PerPosition), rep.Speedup)
	}
	b, err := json.MarshalIndent(struct {
		Greedy  []*eval.OnlineReport `json:"greedy"`
		Sampled *eval.OnlineReport   `json:"sampled,omitempty"`
	}{r.res.Greedy, r.res.Sampled}, "", "  ")
	if err != nil {
		return err
	}
	if err := safetensors.WriteAtomic(filepath.Join(dir, "eval.json"), append(b, '\n')); err != nil {
		return err
	}
	var series []eval.Series
	for _, g := range r.res.Greedy {
		series = append(series, eval.Series{Label: fmt.Sprintf("k=%d greedy", g.K), Values: g.PerPosition})
	}
	if r.res.Sampled != nil {
		series = append(series, eval.Series{Label: fmt.Sprintf("k=%d T=1", r.res.Sampled.K), Values: r.res.Sampled.PerPosition})
	}
	return eval.WritePlot(filepath.Join(dir, "acceptance.png"), "quickstart: per-position acceptance on held-out prompts", series)
}

func rates(x []float64) string {
	parts := make([]string, len(x))
	for i, v := range x {
		parts[i] = fmt.Sprintf("%.3f", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := append([]float64(nil), x...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
