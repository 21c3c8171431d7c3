package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPrompts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.jsonl")
	rows := strings.Join([]string{
		"plain text prompt",
		"",
		`{"prompt": "a"}`,
		`{"text": "b"}`,
		`{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}]}`,
		`{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}]}`,
	}, "\n")
	os.WriteFile(p, []byte(rows), 0o644)
	ps, err := LoadPrompts(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 5 || ps[0].Text != "plain text prompt" || ps[1].Text != "a" || ps[2].Text != "b" {
		t.Fatalf("%+v", ps)
	}
	if len(ps[3].Messages) != 2 || string(ps[3].Messages[1]) != `{"role":"user","content":"u1"}` {
		t.Errorf("messages: %s", ps[3].Messages)
	}
	if len(ps[4].Messages) != 1 || string(ps[4].Messages[0]) != `{"role":"user","content":"q"}` {
		t.Errorf("conversations: %s", ps[4].Messages)
	}
	if ps, _ := LoadPrompts(p, 2); len(ps) != 2 {
		t.Errorf("max 2: %d prompts", len(ps))
	}
	for _, bad := range []string{`{"messages": [{"role": "assistant", "content": "x"}]}`, `{"conversations": [{"from": "robot", "value": "x"}]}`, `{"prompt": 3}`, `{`} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := LoadPrompts(p, 0); err == nil || !strings.Contains(err.Error(), p+":1") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	os.WriteFile(p, []byte("\n\n"), 0o644)
	if _, err := LoadPrompts(p, 0); err == nil {
		t.Error("empty file accepted")
	}
}

func FuzzParsePromptRow(f *testing.F) {
	f.Add(`{"prompt": "a"}`)
	f.Add(`{"messages": [{"role": "user", "content": "u"}]}`)
	f.Add(`{"conversations": [{"from": "human", "value": "q"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePromptRow([]byte(s))
		if err != nil {
			return
		}
		// Chat prompts end with the user turn and stay valid JSON.
		if n := len(p.Messages); n > 0 {
			var m struct{ Role string }
			if json.Unmarshal(p.Messages[n-1], &m) != nil || m.Role != "user" {
				t.Errorf("%q: last message %s", s, p.Messages[n-1])
			}
		}
	})
}
