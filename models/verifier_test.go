package models

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/tokenizer"
)

const verifierDir = "fortune-llama"

type conversation struct {
	Topic    string        `json:"topic"`
	Messages []chatMessage `json:"messages"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func toChat(t *testing.T, ms []chatMessage) []chat.Message {
	t.Helper()
	var out []chat.Message
	for _, m := range ms {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// The trained tokenizer encodes and renders exactly as transformers.js does
// (testdata/gen_tokenizer_parity.mjs).
func TestTokenizerParity(t *testing.T) {
	tok, err := tokenizer.LoadDir(verifierDir)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.Load(verifierDir)
	if err != nil {
		t.Fatal(err)
	}
	type parityCase struct {
		Text     *string       `json:"text"`
		IDs      []int         `json:"ids"`
		Messages []chatMessage `json:"messages"`
		Rendered string        `json:"rendered"`
		ChatIDs  []int         `json:"chat_ids"`
	}
	cases := readJSONL[parityCase](t, filepath.Join("testdata", "tokenizer_parity.jsonl"))
	if len(cases) < 200 {
		t.Fatalf("only %d parity cases", len(cases))
	}
	for i, c := range cases {
		if c.Text != nil {
			if got := tok.Encode(*c.Text, false); !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
				t.Errorf("case %d %q:\n got %v\nwant %v", i, *c.Text, got, c.IDs)
			}
			continue
		}
		r, err := tmpl.Render(toChat(t, c.Messages), chat.RenderOptions{AddGenerationPrompt: true})
		if err != nil {
			t.Fatal(err)
		}
		if r != c.Rendered {
			t.Errorf("case %d: rendered %q, want %q", i, r, c.Rendered)
		}
		if got := tok.Encode(r, false); !slices.Equal(got, c.ChatIDs) {
			t.Errorf("case %d chat ids:\n got %v\nwant %v", i, got, c.ChatIDs)
		}
	}
	if tok.VocabSize() < 2048 {
		t.Fatalf("vocabulary %d < 2048", tok.VocabSize())
	}
}
