package datagen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/tokenizer"
)

func writeConversations(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "conv.jsonl")
	lines := []string{
		`{"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "old one"}]}`,
		`{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}]}`,
		`{"messages": [{"role": "user", "content": "no answer"}]}`,
		`{"messages": [{"role": "user", "content": "third"}, {"role": "assistant", "content": "old"}]}`,
	}
	if err := os.WriteFile(src, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

func readRegen(t *testing.T, path string) map[string]RegenRow {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]RegenRow{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r RegenRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if _, dup := out[r.ID]; dup {
			t.Fatalf("duplicate id %s", r.ID)
		}
		out[r.ID] = r
	}
	return out
}

// TestRegenerateEmbedded: responses equal the runtime's greedy generation
// for the regenerated history, turn by turn; re-runs resume.
func TestRegenerateEmbedded(t *testing.T) {
	model := tinyModel(t)
	src := writeConversations(t)
	out := filepath.Join(t.TempDir(), "regen.jsonl")
	o := RegenOptions{Data: []string{src}, Output: out, Model: model, MaxTokens: 6}
	sum, err := Regenerate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 3 || sum.Turns != 4 || sum.NoAssistant != 1 || len(sum.Failed) != 0 {
		t.Fatalf("%+v", sum)
	}
	rows := readRegen(t, out)
	tok, _ := tokenizer.LoadDir(model)
	tmpl, _ := chat.Load(model)
	m, _ := llama.Load(model)
	eos, _ := m.EOS()
	if len(eos) == 0 {
		eos = []int{tok.EOS()}
	}
	r := rows["conv.jsonl:1"]
	if len(r.Messages) != 5 {
		t.Fatalf("%d messages", len(r.Messages))
	}
	// Each assistant turn is the greedy continuation of the history before it.
	for _, k := range []int{2, 4} {
		text, err := tmpl.Render(r.Messages[:k], chat.RenderOptions{AddGenerationPrompt: true})
		if err != nil {
			t.Fatal(err)
		}
		ids := tok.Encode(text, false)
		p := make([]int32, len(ids))
		for i, v := range ids {
			p[i] = int32(v)
		}
		gen, _, err := llama.Generate(m.NewState(1), p, llama.GenerateOptions{MaxTokens: 6, EOS: eos})
		if err != nil {
			t.Fatal(err)
		}
		var g []int
		for _, v := range gen {
			g = append(g, int(v))
		}
		var a struct{ Role, Content string }
		json.Unmarshal(r.Messages[k], &a)
		if a.Role != "assistant" || a.Content != tok.Decode(g, true) || a.Content == "x" || a.Content == "y" {
			t.Fatalf("turn %d: %+v, want %q", k, a, tok.Decode(g, true))
		}
	}
	// Resume: a torn last line is cut, only missing conversations are redone.
	data, _ := os.ReadFile(out)
	lines := strings.SplitAfter(string(data), "\n")
	torn := lines[0] + lines[1][:10]
	os.WriteFile(out, []byte(torn), 0o644)
	sum, err = Regenerate(context.Background(), o)
	if err != nil || sum.Skipped != 1 || sum.Written != 2 {
		t.Fatalf("%+v %v", sum, err)
	}
	again := readRegen(t, out)
	if len(again) != 3 {
		t.Fatalf("%d rows", len(again))
	}
	for id, r := range rows {
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(again[id])
		if string(a) != string(b) {
			t.Errorf("%s differs after resume", id)
		}
	}
}

// TestRegenerateVLLM: chat completions with retries on 5xx and malformed
// JSON; a conversation whose requests keep failing is listed and redone by
// a re-run.
func TestRegenerateVLLM(t *testing.T) {
	src := writeConversations(t)
	var mu sync.Mutex
	calls := map[string]int{}
	failing := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model     string            `json:"model"`
			Messages  []json.RawMessage `json:"messages"`
			MaxTokens int               `json:"max_tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "m" || req.MaxTokens != 7 {
			http.Error(w, "bad request", 400)
			return
		}
		var last struct{ Content string }
		json.Unmarshal(req.Messages[len(req.Messages)-1], &last)
		mu.Lock()
		calls[last.Content]++
		n := calls[last.Content]
		fail := failing
		mu.Unlock()
		switch {
		case last.Content == "hello" && n == 1:
			http.Error(w, "overloaded", 503)
			return
		case last.Content == "b" && n == 1:
			fmt.Fprint(w, `{"choices": [`)
			return
		case last.Content == "third" && fail:
			http.Error(w, "dead", 500)
			return
		}
		// The reply names how many messages it saw, so conditioning shows.
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{
			"message": map[string]any{"role": "assistant", "content": fmt.Sprintf("re:%s/%d", last.Content, len(req.Messages))}}}})
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "regen.jsonl")
	o := RegenOptions{Data: []string{src}, Output: out, Endpoint: srv.URL + "/v1", ServedModel: "m", MaxTokens: 7,
		Concurrency: 2, MaxRetries: 2, Backoff: time.Millisecond}
	sum, err := Regenerate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 2 || len(sum.Failed) != 1 || sum.Failed[0].ID != "conv.jsonl:3" || !strings.Contains(sum.Failed[0].Err, "500") {
		t.Fatalf("%+v", sum)
	}
	if calls["third"] != 3 {
		t.Errorf("%d attempts for the failing conversation, want 3", calls["third"])
	}
	rows := readRegen(t, out)
	got, _ := json.Marshal(rows["conv.jsonl:1"].Messages)
	want := `[{"role":"system","content":"be brief"},{"role":"user","content":"a"},{"role":"assistant","content":"re:a/2"},{"role":"user","content":"b"},{"role":"assistant","content":"re:b/4"}]`
	if string(got) != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
	failing = false
	sum, err = Regenerate(context.Background(), o)
	if err != nil || sum.Written != 1 || sum.Skipped != 2 || len(readRegen(t, out)) != 3 {
		t.Fatalf("%+v %v", sum, err)
	}
}
