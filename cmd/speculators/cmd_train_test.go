package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/validate"
)

func TestTrainUsage(t *testing.T) {
	for _, args := range [][]string{
		{"train"},
		{"train", "--verifier-name-or-path", "x", "--speculator-type", "dflash"},
		{"train", "--verifier-name-or-path", "x", "--epochs", "many"},
	} {
		if code := run(args); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestTrainDryRun(t *testing.T) {
	dir := t.TempDir()
	ver, err := testmodel.WriteTiny(dir, "qwen3")
	if err != nil {
		t.Fatal(err)
	}
	save := filepath.Join(dir, "out")
	if _, err := runCmd(t, "train", "--verifier-name-or-path", ver, "--save-path", save, "--dry-run",
		"--draft-arch", "qwen3", "--num-layers", "2", "--target-layer-ids", "1,2,3", "--ttt-steps", "4"); err != nil {
		t.Fatal(err)
	}
	r, err := validate.Dir(save)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("dry-run checkpoint: %v", r.Findings)
	}
	cfg, err := os.ReadFile(filepath.Join(save, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"speculative_tokens": 4`, `"model_type": "qwen3"`, `"num_hidden_layers": 2`, `"eagle_aux_hidden_state_layer_ids": [`, `"dtype": "bfloat16"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.json lacks %s", want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"": "''", "--lr": "--lr", "a b": "'a b'", "it's": `'it'"'"'s'`, `{"ce":1}`: `'{"ce":1}'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
