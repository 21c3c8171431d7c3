package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRender runs a case of chat/testdata/chat_golden.json (rendered by
// Python Jinja2) through the command line.
func TestRender(t *testing.T) {
	data, err := os.ReadFile("../../chat/testdata/chat_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Name     string          `json:"name"`
			Messages json.RawMessage `json:"messages"`
			Tools    json.RawMessage `json:"tools"`
			Kwargs   json.RawMessage `json:"kwargs"`
			Gen      bool            `json:"add_generation_prompt"`
			Output   string          `json:"output"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	const name = "llama31-tools/tools-in-system" // date_string is a kwarg: no clock
	dir := t.TempDir()
	msgs, tools := filepath.Join(dir, "m.json"), filepath.Join(dir, "t.json")
	model := "../../chat/testdata/models/llama31-tools"
	found := false
	for _, c := range g.Cases {
		if c.Name != name {
			continue
		}
		found = true
		if !c.Gen {
			t.Fatal("case changed: want add_generation_prompt")
		}
		if err := os.WriteFile(msgs, c.Messages, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tools, c.Tools, 0o644); err != nil {
			t.Fatal(err)
		}
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"render", "--model", model, "--messages", msgs, "--tools", tools,
			"--add-generation-prompt", "--kwargs", string(c.Kwargs)})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.Output {
			t.Errorf("render output:\n%q\nwant\n%q", out.String(), c.Output)
		}
	}
	if !found {
		t.Fatalf("golden case %s missing", name)
	}
	if got := run([]string{"render", "--model", model}); got != 2 {
		t.Errorf("missing --messages: exit %d, want 2", got)
	}
	if got := run([]string{"render", "--model", model, "--messages", msgs, "--kwargs", "{"}); got != 2 {
		t.Errorf("bad --kwargs: exit %d, want 2", got)
	}
	if got := run([]string{"render", "--model", dir, "--messages", msgs}); got != 1 {
		t.Errorf("no template: exit %d, want 1", got)
	}
}
