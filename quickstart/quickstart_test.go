package quickstart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bundled is the committed verifier, relative to this package.
var bundled = filepath.Join("..", "models", "fortune-llama")

func needVerifier(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(bundled, "model.safetensors")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("bundled verifier missing: %v (scripts/build_verifier.sh rebuilds it)", err)
		}
		t.Skipf("bundled verifier missing: %v (scripts/build_verifier.sh rebuilds it)", err)
	}
	return bundled
}

// small is a shortened pipeline: fewer and shorter responses, fewer epochs,
// one k; under a minute on two busy cores.
func small(t *testing.T, verifier string) Options {
	o := Defaults()
	o.Output = t.TempDir()
	o.Verifier = verifier
	o.SampledPerTurn = 1
	o.MaxTokens = 48
	o.Epochs = 6
	o.LR = 3e-3
	o.EvalK = []int{3}
	o.EvalSampledK = 0
	o.EvalMaxTokens = 48
	return o
}

// minTau is the lower bound the shortened pipeline must reach at k = 3 greedy
// on held-out prompts. A draft that never matched the verifier gives τ = 1;
// this configuration measured 2.38 (the full quick start 2.8).
const minTau = 2.0

func TestShortPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the end-to-end pipeline takes under a minute")
	}
	v := needVerifier(t)
	o := small(t, v)
	var log bytes.Buffer
	o.Log = &log
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if testing.Verbose() {
		t.Log(log.String())
	}
	t.Logf("shortened pipeline: τ %.3f at k=3 greedy, per position %v, speedup %.2f×, %d rows", res.Tau(3), res.Greedy[0].PerPosition, res.Speedup(3), res.Rows)
	if tau := res.Tau(3); !(tau >= minTau) {
		t.Errorf("τ at k=3 greedy = %.3f, want ≥ %.1f\n%s", tau, minTau, log.String())
	}
	g := res.Greedy[0]
	if g.Mismatches != 0 || g.Prompts != res.HeldOut || len(g.PerPosition) != 3 {
		t.Errorf("eval report: %+v", g)
	}
	// Acceptance can only fall along the draft: position i+1 is accepted
	// only after position i.
	for i := 1; i < len(g.PerPosition); i++ {
		if g.PerPosition[i] > g.PerPosition[i-1]+1e-9 {
			t.Errorf("per-position acceptance rises: %v", g.PerPosition)
		}
	}
	if res.DraftVocab >= res.VerifierVocab || res.Coverage <= 0.5 {
		t.Errorf("draft vocab %d of %d, coverage %.3f", res.DraftVocab, res.VerifierVocab, res.Coverage)
	}
	for _, f := range []string{"summary.json", "eval/eval.json", "eval/acceptance.png", "vocab/d2t.npy", "vocab/t2d.npy",
		filepath.Join(strings.TrimPrefix(res.Checkpoint, o.Output+string(filepath.Separator)), "model.safetensors")} {
		if _, err := os.Stat(filepath.Join(o.Output, f)); err != nil {
			t.Error(err)
		}
	}
	var sum bytes.Buffer
	res.WriteSummary(&sum)
	for _, want := range []string{"vllm serve " + res.Checkpoint, `"method":"eagle3"`, "greedy", res.Checkpoint} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}

	// A second run finds every stage complete and reports the same figures.
	log.Reset()
	again, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "skipped"); n != 8 {
		t.Errorf("re-run skipped %d of 8 stages:\n%s", n, log.String())
	}
	if again.Tau(3) != res.Tau(3) || again.Checkpoint != res.Checkpoint || again.Rows != res.Rows {
		t.Errorf("re-run summary differs: τ %v vs %v, %s vs %s", again.Tau(3), res.Tau(3), again.Checkpoint, res.Checkpoint)
	}
	// Other options on the same folder are refused, naming what changed.
	o.Epochs++
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "Epochs: 6 -> 7") {
		t.Errorf("changed options: %v", err)
	}
}

// A stage interrupted before it records completion is redone on the next
// run, and the stages before it are not.
func TestResumeAfterInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	v := needVerifier(t)
	o := small(t, v)
	o.MaxPrompts = 20
	o.MaxTokens = 16
	o.Epochs = 1
	o.EvalPrompts = 2
	o.EvalMaxTokens = 8
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	o.Log = &cancelOn{w: &log, needle: "stage 3/8 prepare ->", cancel: cancel}
	if _, err := Run(ctx, o); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	if stageDone(filepath.Join(o.Output, "prepare")) {
		t.Fatal("interrupted stage recorded as complete")
	}
	log.Reset()
	o.Log = &log
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, s := range []string{"prompts", "regenerate"} {
		if !strings.Contains(log.String(), s+": complete") {
			t.Errorf("stage %s was not skipped:\n%s", s, log.String())
		}
	}
	if strings.Contains(log.String(), "prepare: complete") {
		t.Errorf("interrupted stage was skipped:\n%s", log.String())
	}
}

type cancelOn struct {
	w      *bytes.Buffer
	needle string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.needle)) {
		c.cancel()
	}
	return c.w.Write(p)
}

func TestOptionsRejected(t *testing.T) {
	dir := t.TempDir()
	for name, mod := range map[string]func(*Options){
		"no output":        func(o *Options) { o.Output = "" },
		"held out every 1": func(o *Options) { o.HeldOutEvery = 1 },
		"k 0":              func(o *Options) { o.EvalK = []int{0} },
		"no k":             func(o *Options) { o.EvalK = nil },
		"epochs 0":         func(o *Options) { o.Epochs = 0 },
		"no verifier":      func(o *Options) { o.Verifier = filepath.Join(dir, "missing") },
	} {
		o := Defaults()
		o.Output = filepath.Join(dir, "out")
		o.Verifier = dir
		mod(&o)
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSplitAndPrompts(t *testing.T) {
	ps := Prompts()
	if len(ps) < 100 {
		t.Fatalf("%d built-in prompts", len(ps))
	}
	tr, ho := split(ps, 5)
	if len(tr)+len(ho) != len(ps) || len(ho) != (len(ps)+2)/5 {
		t.Fatalf("split %d+%d of %d", len(tr), len(ho), len(ps))
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if strings.Contains(p, "%!") {
			t.Fatalf("prompt %q: format verbs do not match corpus.PromptForms", p)
		}
	}
	for _, p := range tr {
		seen[p] = true
	}
	for _, p := range ho {
		if seen[p] {
			t.Errorf("held-out prompt %q also trains", p)
		}
	}
	// Every form appears among the held-out prompts.
	forms := map[string]bool{}
	for _, p := range ho {
		forms[strings.Fields(p)[0]] = true
	}
	if len(forms) < 3 {
		t.Errorf("held-out prompts use %d forms: %v", len(forms), forms)
	}
}

func TestVLLMCommands(t *testing.T) {
	c := vllmCommands("out dir/train/checkpoints/3", []int{1, 2, 3, 4, 5})
	want0 := "vllm serve 'out dir/train/checkpoints/3'"
	want1 := `vllm serve meta-llama/Llama-3.1-8B-Instruct --speculative-config '{"method":"eagle3","model":"out dir/train/checkpoints/3","num_speculative_tokens":3}'`
	if c[0] != want0 || c[1] != want1 {
		t.Errorf("got\n%s\n%s", c[0], c[1])
	}
	if q := shellQuote("it's"); q != `'it'\''s'` {
		t.Errorf("quote: %s", q)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
