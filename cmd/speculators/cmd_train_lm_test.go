package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// build-corpus → train-tokenizer → train-lm (and --resume) → generate, on a
// tiny fortunes directory and model.
func TestVerifierPipelineCommands(t *testing.T) {
	dir := t.TempDir()
	fort := filepath.Join(dir, "fortunes")
	os.Mkdir(fort, 0o755)
	var b strings.Builder
	for i := range 60 {
		b.WriteString([]string{"A computer is a machine that computes.", "Programs must be written for people to read.",
			"There is no place like home directory."}[i%3] + "\n%\n")
	}
	os.WriteFile(filepath.Join(fort, "computers"), []byte(b.String()), 0o644)
	corpusDir, tokDir, model := filepath.Join(dir, "corpus"), filepath.Join(dir, "tok"), filepath.Join(dir, "model")
	steps := []struct {
		args []string
		code int
	}{
		{[]string{"build-corpus", "--fortunes", fort, "--output", corpusDir, "--holdout", "6"}, 0},
		{[]string{"train-tokenizer", "--input", filepath.Join(corpusDir, "train.txt"), "--vocab-size", "320", "--output", tokDir}, 0},
		{[]string{"train-lm", "--model-config", filepath.Join(dir, "cfg.json"), "--tokenizer", tokDir, "--input", filepath.Join(corpusDir, "train.txt"),
			"--valid", filepath.Join(corpusDir, "valid.txt"), "--output", model, "--steps", "4", "--warmup", "1", "--seq-len", "64",
			"--batch-tokens", "128", "--checkpoint-every", "2", "--log-every", "1"}, 0},
		{[]string{"train-lm", "--model-config", filepath.Join(dir, "cfg.json"), "--tokenizer", tokDir, "--input", filepath.Join(corpusDir, "train.txt"),
			"--output", model, "--steps", "6", "--warmup", "1", "--seq-len", "64", "--batch-tokens", "128", "--resume"}, 0},
		{[]string{"generate", "--model", model, "--chat", "--prompt", "Tell me a fortune about computers.", "--max-tokens", "8"}, 0},
		{[]string{"train-lm", "--model-config", filepath.Join(dir, "bad.json"), "--tokenizer", tokDir, "--input", filepath.Join(corpusDir, "train.txt"),
			"--output", model, "--steps", "1"}, 1},
		{[]string{"train-lm", "--tokenizer", tokDir}, 2},
		{[]string{"train-tokenizer", "--input", filepath.Join(corpusDir, "train.txt"), "--vocab-size", "10", "--output", tokDir}, 1},
		{[]string{"build-corpus", "--fortunes", dir, "--output", corpusDir}, 1},
	}
	cfg := `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 320, "rope_theta": 10000.0}`
	os.WriteFile(filepath.Join(dir, "cfg.json"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(strings.Replace(cfg, "320", "321", 1)), 0o644)
	for _, s := range steps {
		if code := run(s.args); code != s.code {
			t.Fatalf("%v: exit %d, want %d", s.args, code, s.code)
		}
	}
	for _, f := range []string{"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "checkpoint/state.safetensors"} {
		if _, err := os.Stat(filepath.Join(model, f)); err != nil {
			t.Error(err)
		}
	}
}
