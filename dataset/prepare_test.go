package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/speculators-go/speculators/vocab"
)

type shareGPTTurn struct {
	From  string `parquet:"from"`
	Value string `parquet:"value"`
}

type shareGPTRow struct {
	Conversations []shareGPTTurn `parquet:"conversations,list"`
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sources writes one dataset in every supported layout and returns the
// conversations (normalised) that it holds, in file order.
func sources(t *testing.T, dir string) {
	writeFile(t, filepath.Join(dir, "a.jsonl"), strings.Join([]string{
		`{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Goodbye."}]}`,
		``,
		`{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}`,
		`{"input_ids": [10, 11, 12, 13], "loss_mask": [0, 0, 1, 1]}`,
		`{"messages": [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "ok"}]}`,
	}, "\n")+"\n")
	writeFile(t, filepath.Join(dir, "sub", "b.json"), `[
  {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]},
  {"conversations": [{"from": "human", "value": "Capital of France?"}, {"from": "Qwen3-8B", "value": "Paris."}]}
]`)
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []shareGPTRow{
		{Conversations: []shareGPTTurn{{"human", "One more?"}, {"gpt", "Sure."}}},
		{Conversations: []shareGPTTurn{{"human", "Count to three."}, {"gpt", "1, 2, 3."}, {"human", "Again"}, {"gpt", "1, 2, 3!"}}},
	}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "c.parquet"), buf.String())
}

func TestPrepareEndToEnd(t *testing.T) {
	model := npmModel(t, "qwen3")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sources(t, data)
	out := filepath.Join(dir, "out")
	var logs []string
	opts := Options{Model: model, Sources: []string{data}, Output: out, Seed: 3, Workers: 3,
		Log: func(s string) { logs = append(logs, s) }, Renderer: localRenderer(t, "qwen3", nil)}
	sum, err := Prepare(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	c := sum.Counts
	// 8 source rows: 7 conversations + 1 tokenized. Rows: 2 + 1 + 1 + 0 + 1 + 1 + 1 + 2 = 9.
	if c.RowsRead != 8 || c.Conversations != 7 || c.Pretokenized != 1 || c.RowsOut != 9 {
		t.Errorf("counts = %+v", c)
	}
	if sum.DropReasons[ReasonNoAssistantTurn] != 1 || len(sum.DropReasons) != 1 {
		t.Errorf("drop reasons = %v, want one no_trainable_turn", sum.DropReasons)
	}
	if sum.UnknownRoles["Qwen3-8B"] != 1 {
		t.Errorf("unknown roles = %v", sum.UnknownRoles)
	}
	if len(sum.Sources) != 1 || len(sum.Sources[0].Files) != 3 || sum.Sources[0].Files[0].SHA256 == "" {
		t.Errorf("sources = %+v", sum.Sources)
	}

	// Read the Parquet output back two ways: typed, and with parquet-go's
	// schema-driven generic reader (our loader), and compare with rows
	// computed directly.
	rows, err := ReadParquetRows(filepath.Join(out, "data-00000-of-00001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var generic []Row
	_, err = ReadFile(filepath.Join(out, "data-00000-of-00001.parquet"), nil, func(e Example) {
		generic = append(generic, Row{InputIDs: e.InputIDs, LossMask: e.LossMask})
	}, func(p Problem) { t.Errorf("generic reader: %v", p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 9 || len(generic) != 9 {
		t.Fatalf("read %d typed and %d generic rows, want 9", len(rows), len(generic))
	}
	r := localRenderer(t, "qwen3", nil)
	want := map[string]bool{}
	for _, f := range []string{"a.jsonl", "sub/b.json", "sub/c.parquet"} {
		ReadFile(filepath.Join(data, f), nil, func(e Example) {
			if e.Tokenized() {
				want[fmt.Sprint(e.InputIDs, e.LossMask)] = true
				return
			}
			rs, _ := BoundaryRows(context.Background(), r, e.Messages, e.Tools, 8192)
			for _, row := range rs {
				want[fmt.Sprint(row.InputIDs, row.LossMask)] = true
			}
		}, func(Problem) {})
	}
	freq := map[int]int64{}
	for i, row := range rows {
		if !slices.Equal(row.InputIDs, generic[i].InputIDs) || !slices.Equal(row.LossMask, generic[i].LossMask) {
			t.Errorf("row %d differs between the two readers", i)
		}
		if !want[fmt.Sprint(row.InputIDs, row.LossMask)] {
			t.Errorf("row %d (%q) is not one of the expected rows", i, decode(r, row.InputIDs))
		}
		for j, m := range row.LossMask {
			if m == 1 {
				freq[int(row.InputIDs[j])]++
			}
		}
	}
	if len(want) != 9 {
		t.Errorf("expected 9 distinct rows, have %d", len(want))
	}
	gotFreq, err := vocab.ReadTokenFreq(filepath.Join(out, "token_freq.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(gotFreq) != len(freq) {
		t.Errorf("token_freq has %d ids, want %d", len(gotFreq), len(freq))
	}
	for id, n := range freq {
		if gotFreq[id] != n {
			t.Errorf("token_freq[%d] = %d, want %d", id, gotFreq[id], n)
		}
	}
	meta, err := ReadMetadata(out)
	if err != nil || !meta.Complete || meta.Counts != sum.Counts || meta.Model.TokenizerSHA256 == "" || !strings.Contains(meta.Model.ChatTemplate, "<|im_start|>") {
		t.Errorf("metadata = %+v, %v", meta, err)
	}

	// Re-running is a no-op; the same run with one worker and the same seed
	// gives identical bytes; --overwrite rebuilds.
	before, _ := os.ReadFile(filepath.Join(out, "data-00000-of-00001.parquet"))
	st, _ := os.Stat(filepath.Join(out, metadataFile))
	again, err := Prepare(context.Background(), opts)
	if err != nil || !again.Skipped {
		t.Fatalf("re-run: skipped=%v err=%v", again != nil && again.Skipped, err)
	}
	st2, _ := os.Stat(filepath.Join(out, metadataFile))
	if !st.ModTime().Equal(st2.ModTime()) {
		t.Error("re-run touched metadata.json")
	}
	opts.Workers, opts.Overwrite = 1, true
	if !testing.Short() {
		opts.Renderer = nil // load the model's own tokenizer and template this time
	}
	if _, err := Prepare(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(out, "data-00000-of-00001.parquet"))
	if !bytes.Equal(before, after) {
		t.Error("1 worker and 3 workers wrote different Parquet files")
	}
	// Another seed shuffles differently; --max-samples keeps that many rows.
	opts.Seed, opts.MaxSamples = 4, 5
	s2, err := Prepare(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Counts.RowsOut != 5 {
		t.Errorf("max-samples 5: %d rows out", s2.Counts.RowsOut)
	}
	// Foreign files block --overwrite.
	writeFile(t, filepath.Join(out, "notes.txt"), "mine")
	if _, err := Prepare(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("overwrite with a foreign file: %v", err)
	}
}

// TestMalformedRows checks that every kind of bad input is counted with its
// file and line or row, and that --strict makes it fatal.
func TestMalformedRows(t *testing.T) {
	dir := t.TempDir()
	good := `{"input_ids": [1, 2], "loss_mask": [0, 1]}`
	writeFile(t, filepath.Join(dir, "x.jsonl"), strings.Join([]string{
		good,
		`{"conversations": [{"from": "human", "value": "a"}`,                // line 2: broken JSON
		`{"messages": "hello"}`,                                             // line 3: wrong type
		`{"messages": []}`,                                                  // line 4: empty
		"{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}", // line 5: non-UTF-8
		`[1, 2]`,                      // line 6: not an object
		`{"text": "no conversation"}`, // line 7
		`{"input_ids": [1, 2], "loss_mask": [0, 2]}`,                                         // line 8
		`{"input_ids": [1, 2.5], "loss_mask": [0, 1]}`,                                       // line 9
		`{"messages": [{"role": "user", "content": 42}]}`,                                    // line 10
		`{"messages": [{"role": "user", "content": [{"type": "image", "base64": "AAAA"}]}]}`, // line 11
	}, "\n"))
	writeFile(t, filepath.Join(dir, "y.json"), "[\n"+good+",\n"+good+",\n{\"messages\": 7},\n{broken\n]")
	want := map[string]string{
		ReasonInvalidJSON + " x.jsonl:2":    "",
		ReasonBadField + " x.jsonl:3":       "not a list",
		ReasonEmpty + " x.jsonl:4":          "",
		ReasonInvalidUTF8 + " x.jsonl:5":    "",
		ReasonNotObject + " x.jsonl:6":      "array",
		ReasonNoConversation + " x.jsonl:7": "keys [text]",
		ReasonBadTokens + " x.jsonl:8":      "want 0 or 1",
		ReasonBadTokens + " x.jsonl:9":      "non-integer",
		ReasonBadField + " x.jsonl:10":      "number",
		ReasonInlineMedia + " x.jsonl:11":   "inline",
		ReasonBadField + " y.json:4":        "",
		ReasonInvalidJSON + " y.json:5":     "rest of the file",
	}
	got := map[string]string{}
	kept := 0
	for _, f := range []string{"x.jsonl", "y.json"} {
		if _, err := ReadFile(filepath.Join(dir, f), nil, func(Example) { kept++ }, func(p Problem) {
			got[fmt.Sprintf("%s %s:%d", p.Reason, filepath.Base(p.Loc.File), p.Loc.Line)] = p.Detail
		}); err != nil {
			t.Fatal(err)
		}
	}
	if kept != 3 {
		t.Errorf("kept %d good rows, want 3", kept)
	}
	for k, sub := range want {
		d, ok := got[k]
		if !ok {
			t.Errorf("missing problem %q", k)
		} else if !strings.Contains(d, sub) {
			t.Errorf("%s: detail %q lacks %q", k, d, sub)
		}
	}
	for k, d := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected problem %s: %s", k, d)
		}
	}

	// The whole run counts them; --strict stops at the first.
	out := filepath.Join(dir, "out")
	model := filepath.Join(dir, "model")
	writeFile(t, filepath.Join(model, "tokenizer_config.json"), `{}`)
	o := Options{Model: model, Sources: []string{filepath.Join(dir, "x.jsonl")}, Output: out}
	sum, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.RowsOut != 1 || sum.DropReasons[ReasonBadTokens] != 2 {
		t.Errorf("counts %+v drops %v", sum.Counts, sum.DropReasons)
	}
	o.Strict, o.Overwrite = true, true
	if _, err := Prepare(context.Background(), o); err == nil || !strings.Contains(err.Error(), "x.jsonl:2") {
		t.Errorf("strict: err = %v, want one naming x.jsonl:2", err)
	}
	if _, err := os.Stat(filepath.Join(out, metadataFile)); err == nil {
		t.Error("a failed --overwrite run left metadata.json claiming completeness")
	}
}

func TestParquetInvalidUTF8(t *testing.T) {
	type row struct {
		Messages []struct {
			Role    string `parquet:"role"`
			Content string `parquet:"content"`
		} `parquet:"messages,list"`
	}
	var r row
	r.Messages = append(r.Messages, struct {
		Role    string `parquet:"role"`
		Content string `parquet:"content"`
	}{"user", "bad \xff"})
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []row{r}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "u.parquet")
	writeFile(t, p, buf.String())
	var probs []Problem
	if _, err := ReadFile(p, nil, func(Example) {}, func(pr Problem) { probs = append(probs, pr) }); err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Reason != ReasonInvalidUTF8 || probs[0].Loc.Row != 0 {
		t.Errorf("problems = %v", probs)
	}
	// A truncated Parquet file is an error naming the file, not a panic.
	writeFile(t, p, buf.String()[:buf.Len()/2])
	if _, err := ReadFile(p, nil, func(Example) {}, func(Problem) {}); err == nil || !strings.Contains(err.Error(), "u.parquet") {
		t.Errorf("truncated parquet: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	w := &Warnings{}
	ex, p := parseRow([]byte(`{"conversations": [
		{"from": "human", "value": "", "content": "fallback"},
		{"role": "gpt", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}], "reasoning_content": "hmm"},
		{"from": "tool", "value": "r", "tool_call_id": "c1"},
		{"role": "user", "content": ["part one", {"type": "text", "text": "two"}, {"type": "image", "url": "http://x/y.png"}]}],
		"tools": [{"type": "function"}]}`), Location{File: "f"}, w)
	if p != nil {
		t.Fatal(p)
	}
	want := []string{
		`{"role":"user","content":"fallback"}`,
		`{"role":"assistant","content":"","tool_calls":[{"function": {"name": "f", "arguments": "{}"}}],"thinking":"hmm","reasoning_content":"hmm"}`,
		`{"role":"tool","content":"r","tool_call_id":"c1"}`,
		`{"role":"user","content":[{"type":"text","text":"part one"},{"type":"text","text":"two"},{"type":"image_url","image_url":{"url":"http://x/y.png"}}]}`,
	}
	for i, m := range ex.Messages {
		if string(m) != want[i] {
			t.Errorf("message %d = %s\nwant %s", i, m, want[i])
		}
	}
	if len(ex.Tools) != 1 {
		t.Errorf("tools = %v", ex.Tools)
	}
	parseRow([]byte(`{"messages": [{"role": "Llama-3-70B", "content": "x"}, {"content": "y"}]}`), Location{}, w)
	if r := w.UnknownRoles(); r["Llama-3-70B"] != 1 || r[""] != 1 {
		t.Errorf("unknown roles = %v", r)
	}
}

func FuzzParseRow(f *testing.F) {
	f.Add([]byte(`{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}`))
	f.Add([]byte(`{"messages": [{"role": "user", "content": ["a", {"type": "image", "path": "x.png"}]}], "tools": "[{}]"}`))
	f.Add([]byte(`{"input_ids": [1, 2], "loss_mask": [0, 1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, p := parseRow(data, Location{File: "fuzz"}, &Warnings{})
		if p != nil {
			return
		}
		for _, m := range ex.Messages {
			if !json.Valid(m) {
				t.Fatalf("normalised message is not JSON: %s", m)
			}
		}
		if len(ex.InputIDs) != len(ex.LossMask) {
			t.Fatal("length mismatch accepted")
		}
	})
}
