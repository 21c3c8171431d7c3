package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/tokenizer"
)

func tinyModelDir(t *testing.T, arch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), arch)
	if err := testmodel.Write(dir, testmodel.Tiny(arch)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGenerateCmd: the streamed text is the decoding of the tokens that
// llama.Generate picks for the same prompt.
func TestGenerateCmd(t *testing.T) {
	dir := tinyModelDir(t, "qwen3")
	out, err := runCmd(t, "generate", "--model", dir, "--prompt", "the weather", "--chat", "--max-tokens", "12")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := tokenizer.LoadDir(dir)
	m, err := llama.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("<|im_start|>user\nthe weather<|im_end|>\n<|im_start|>assistant\n", false)
	p := make([]int32, len(ids))
	for i, v := range ids {
		p[i] = int32(v)
	}
	eos, _ := m.EOS()
	gen, _, err := llama.Generate(m.NewState(1), p, llama.GenerateOptions{MaxTokens: 12, EOS: eos})
	if err != nil {
		t.Fatal(err)
	}
	gi := make([]int, len(gen))
	for i, v := range gen {
		gi[i] = int(v)
	}
	if want := tok.Decode(gi, true) + "\n"; !strings.HasSuffix(out, want) {
		t.Errorf("output %q, want %q", out, want)
	}

	// Sampled runs are reproducible with a seed.
	a, err := runCmd(t, "generate", "--model", dir, "--prompt", "on", "--temperature", "1", "--top-p", "0.9", "--top-k", "50", "--seed", "3", "--max-tokens", "10")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runCmd(t, "generate", "--model", dir, "--prompt", "on", "--temperature", "1", "--top-p", "0.9", "--top-k", "50", "--seed", "3", "--max-tokens", "10")
	if a != b {
		t.Errorf("seeded runs differ: %q vs %q", a, b)
	}
	msgs := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(msgs, []byte(`[{"role":"user","content":"the weather"}]`), 0o644)
	c, err := runCmd(t, "generate", "--model", dir, "--messages", msgs, "--max-tokens", "12")
	if err != nil || c != out {
		t.Errorf("--messages gave %q (%v), --chat gave %q", c, err, out)
	}
	if _, err := runCmd(t, "generate", "--model", dir); err == nil {
		t.Error("no prompt accepted")
	}
	if _, err := runCmd(t, "generate", "--model", dir, "--prompt", "x", "--top-p", "2"); err == nil {
		t.Error("bad top-p accepted")
	}
}

func TestGenerateStopsAtEOS(t *testing.T) {
	dir := tinyModelDir(t, "llama")
	m, _ := llama.Load(dir)
	// Every token is an EOS: generation stops after one.
	all := make([]int, m.V())
	for i := range all {
		all[i] = i
	}
	smp, _ := sample.New(sample.Params{})
	gen, st, err := llama.Generate(m.NewState(1), []int32{1, 2, 3}, llama.GenerateOptions{MaxTokens: 10, EOS: all, Sampler: smp})
	if err != nil || len(gen) != 1 || st.Stop != "eos" {
		t.Errorf("gen %v stop %q err %v", gen, st.Stop, err)
	}
}

func TestForwardCmd(t *testing.T) {
	dir := tinyModelDir(t, "llama")
	outPath := filepath.Join(t.TempDir(), "fw.safetensors")
	if _, err := runCmd(t, "forward", "--model", dir, "--ids", "1,2,3,4,5", "--output", outPath); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hi, _ := f.Info("hidden_states")
	li, _ := f.Info("logits")
	// 4 layers: default aux [2, 2, 1] plus 4.
	if !slices.Equal(hi.Shape, []int64{5, 4, 64}) || !slices.Equal(li.Shape, []int64{5, 320}) || f.Metadata()["layer_ids"] != "2,2,1,4" {
		t.Errorf("shapes %v %v, layer_ids %q", hi.Shape, li.Shape, f.Metadata()["layer_ids"])
	}
	m, _ := llama.Load(dir)
	o, _ := m.NewState(1).ForwardSeq(0, []int32{1, 2, 3, 4, 5}, llama.ForwardOptions{Logits: llama.LogitsAll, Capture: []int{2, 2, 1, 4}})
	lg, _ := f.Float32("logits")
	hs, _ := f.Float32("hidden_states")
	for i := range lg {
		if math.Abs(float64(lg[i]-o.Logits[i])) > 0 {
			t.Fatal("logits differ from the runtime")
		}
	}
	for i := range hs {
		if hs[i] != o.Hidden[i] {
			t.Fatal("hidden states differ from the runtime")
		}
	}
	if _, err := runCmd(t, "forward", "--model", dir, "--ids", "1,x", "--output", outPath); err == nil {
		t.Error("bad ids accepted")
	}
	if _, err := runCmd(t, "forward", "--model", dir, "--ids", "1,2", "--layers", "9", "--output", outPath); err == nil {
		t.Error("layer beyond N accepted")
	}
}
