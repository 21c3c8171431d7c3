package datagen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/tokenizer"
)

// RegenOptions configure Regenerate. Exactly one of Model and Endpoint is set.
type RegenOptions struct {
	Data   []string // source references (files, folders, name:split), read with package dataset
	Output string   // JSONL output file

	Model       string // embedded verifier directory (with tokenizer and chat template)
	Endpoint    string // vLLM base URL, e.g. http://host:8000/v1
	ServedModel string // vLLM served model name

	MaxTokens      int     // per response (default 2048)
	Temperature    float64 // 0 is greedy
	Seed           uint64  // embedded sampling seed (per conversation: Seed + row)
	Concurrency    int     // conversations in flight (default 8; embedded uses 1)
	MaxSamples     int     // conversations to regenerate; 0 means all
	MaxRetries     int     // per request (default 3); < 0 means none
	Backoff        time.Duration
	RequestTimeout time.Duration // per request (default 600 s)
	Log            func(string)
}

// RegenSummary is the outcome of Regenerate.
type RegenSummary struct {
	Conversations int       `json:"conversations"` // considered
	Skipped       int       `json:"skipped"`       // already in the output
	NoAssistant   int       `json:"no_assistant"`  // nothing to regenerate
	Written       int       `json:"written"`
	Turns         int       `json:"turns"` // assistant turns regenerated
	Failed        []RowFail `json:"failed"`
	Seconds       float64   `json:"seconds"`
}

// RowFail is a conversation that could not be regenerated.
type RowFail struct {
	ID  string `json:"id"`
	Err string `json:"error"`
}

// RegenRow is one output line: the conversation in the OpenAI messages
// form with every assistant turn replaced by the verifier's response to the
// conversation before it.
type RegenRow struct {
	ID       string            `json:"id"`
	Messages []json.RawMessage `json:"messages"`
	Tools    []json.RawMessage `json:"tools,omitempty"`
}

// responder answers a conversation with an assistant message.
type responder interface {
	respond(ctx context.Context, row int, msgs, tools []json.RawMessage) (json.RawMessage, error)
}

// Regenerate replaces each assistant turn of every source conversation with
// the verifier's response, turn by turn (each turn conditioned on the
// verifier's own earlier replies; tool results are kept), and appends one
// JSONL row per conversation to Output. Conversations already in Output
// (by id) are skipped, so an interrupted run resumes; a torn last line is
// cut off first.
func Regenerate(ctx context.Context, o RegenOptions) (*RegenSummary, error) {
	start := time.Now()
	if (o.Model == "") == (o.Endpoint == "") {
		return nil, errors.New("regenerate: give exactly one of a model directory and a vLLM endpoint")
	}
	if o.Output == "" || len(o.Data) == 0 {
		return nil, errors.New("regenerate: need source data and an output file")
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 2048
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 600 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	var resp responder
	if o.Model != "" {
		e, err := newEmbeddedResponder(o)
		if err != nil {
			return nil, err
		}
		resp, o.Concurrency = e, 1
	} else {
		resp = &chatClient{endpoint: strings.TrimRight(o.Endpoint, "/"), model: o.ServedModel, o: o, client: &http.Client{}}
	}

	// Source conversations in order.
	type conv struct {
		id    string
		row   int
		msgs  []json.RawMessage
		tools []json.RawMessage
	}
	var convs []conv
	var w dataset.Warnings
	var files []string
	for _, ref := range o.Data {
		fs, err := dataset.Resolve(ref)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	// Ids are "<file>:<row>", the file by base name unless two share it.
	bases := map[string]int{}
	for _, f := range files {
		bases[filepath.Base(f)]++
	}
	for _, f := range files {
		name := filepath.Base(f)
		if bases[name] > 1 {
			name = f
		}
		_, err := dataset.ReadFile(f, &w, func(e dataset.Example) {
			if e.Messages == nil {
				return
			}
			convs = append(convs, conv{id: fmt.Sprintf("%s:%d", name, e.Loc.Row), msgs: e.Messages, tools: e.Tools})
		}, func(p dataset.Problem) { o.Log("regenerate: skipping " + p.Error()) })
		if err != nil {
			return nil, err
		}
	}
	if o.MaxSamples > 0 && len(convs) > o.MaxSamples {
		convs = convs[:o.MaxSamples]
	}
	sum := &RegenSummary{Conversations: len(convs)}
	done, err := resumeJSONL(o.Output)
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile(o.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("regenerate: %w", err)
	}
	defer out.Close()

	var todo []conv
	for i, c := range convs {
		c.row = i
		if done[c.id] {
			sum.Skipped++
			continue
		}
		todo = append(todo, c)
	}
	o.Log(fmt.Sprintf("regenerate: %d conversations, %d already done, %d to do", len(convs), sum.Skipped, len(todo)))
	var mu sync.Mutex
	var writeErr error
	ch := make(chan conv)
	var wg sync.WaitGroup
	last := time.Now()
	for k := 0; k < o.Concurrency; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ch {
				msgs, turns, err := regenConversation(ctx, resp, c.row, c.msgs, c.tools)
				mu.Lock()
				switch {
				case ctx.Err() != nil:
				case err != nil:
					sum.Failed = append(sum.Failed, RowFail{ID: c.id, Err: err.Error()})
					o.Log(fmt.Sprintf("regenerate: %s failed: %v", c.id, err))
				case turns == 0:
					sum.NoAssistant++
				default:
					line, _ := json.Marshal(RegenRow{ID: c.id, Messages: msgs, Tools: c.tools})
					_, err := out.Write(append(line, '\n'))
					if err == nil {
						err = out.Sync()
					}
					if err != nil {
						if writeErr == nil {
							writeErr = err
						}
						sum.Failed = append(sum.Failed, RowFail{ID: c.id, Err: err.Error()})
						break
					}
					sum.Written++
					sum.Turns += turns
				}
				if time.Since(last) > 10*time.Second {
					last = time.Now()
					o.Log(fmt.Sprintf("regenerate: %d/%d written, %d failed", sum.Written, len(todo), len(sum.Failed)))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, c := range todo {
		select {
		case ch <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	sort.Slice(sum.Failed, func(i, j int) bool { return sum.Failed[i].ID < sum.Failed[j].ID })
	sum.Seconds = time.Since(start).Seconds()
	o.Log(fmt.Sprintf("regenerate: done in %.1fs: %d written (%d turns), %d already done, %d without assistant turns, %d failed",
		sum.Seconds, sum.Written, sum.Turns, sum.Skipped, sum.NoAssistant, len(sum.Failed)))
	for i, f := range sum.Failed {
		if i == 10 {
			o.Log(fmt.Sprintf("regenerate: ... and %d more failures", len(sum.Failed)-10))
			break
		}
		o.Log(fmt.Sprintf("regenerate: failed %s: %s", f.ID, f.Err))
	}
	if writeErr != nil {
		return sum, fmt.Errorf("regenerate: %s: %w", o.Output, writeErr)
	}
	return sum, nil
}

// regenConversation walks msgs, replacing each assistant turn with resp's
// answer to the (regenerated) history before it.
func regenConversation(ctx context.Context, resp responder, row int, msgs, tools []json.RawMessage) ([]json.RawMessage, int, error) {
	var hist []json.RawMessage
	turns := 0
	for _, m := range msgs {
		var head struct {
			Role string `json:"role"`
		}
		json.Unmarshal(m, &head)
		if head.Role != "assistant" {
			hist = append(hist, m)
			continue
		}
		if len(hist) == 0 {
			return nil, 0, errors.New("conversation starts with an assistant turn")
		}
		a, err := resp.respond(ctx, row, hist, tools)
		if err != nil {
			return nil, 0, fmt.Errorf("turn %d: %w", len(hist), err)
		}
		hist = append(hist, a)
		turns++
	}
	return hist, turns, nil
}

// resumeJSONL returns the ids already in path, cutting off a torn last
// line (an interrupted append).
func resumeJSONL(path string) (map[string]bool, error) {
	done := map[string]bool{}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("regenerate: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var good int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var r RegenRow
			if json.Unmarshal(line, &r) != nil || r.ID == "" {
				return nil, fmt.Errorf("regenerate: %s: line at byte %d is not an output row; refusing to append to it", path, good)
			}
			done[r.ID] = true
			good += int64(len(line))
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("regenerate: %s: %w", path, err)
		}
	}
	if err := f.Truncate(good); err != nil {
		return nil, fmt.Errorf("regenerate: %s: %w", path, err)
	}
	return done, nil
}

// chatClient asks vLLM's OpenAI-compatible /chat/completions.
type chatClient struct {
	endpoint, model string
	o               RegenOptions
	client          *http.Client
}

func (c *chatClient) respond(ctx context.Context, row int, msgs, tools []json.RawMessage) (json.RawMessage, error) {
	body := map[string]any{"model": c.model, "messages": msgs, "max_tokens": c.o.MaxTokens, "temperature": c.o.Temperature}
	if len(tools) > 0 {
		body["tools"] = tools
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	delay := c.o.Backoff
	for attempt := 0; ; attempt++ {
		m, err := c.once(ctx, payload)
		if err == nil {
			return m, nil
		}
		var p permanent
		if ctx.Err() != nil || errors.As(err, &p) || attempt >= c.o.MaxRetries {
			return nil, err
		}
		c.o.Log(fmt.Sprintf("regenerate: row %d attempt %d: %v; retrying in %s", row, attempt+1, err, delay))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func (c *chatClient) once(ctx context.Context, payload []byte) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/chat/completions", bytes.NewReader(payload))
	if err != nil {
		return nil, permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	v := &vllm{client: c.client}
	body, err := v.do(req)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Choices []struct {
			Message struct {
				Content   *string         `json:"content"`
				ToolCalls json.RawMessage `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("malformed response: %w", err)
	}
	if len(resp.Choices) == 0 {
		return nil, errors.New("response has no choices")
	}
	m := resp.Choices[0].Message
	content := ""
	if m.Content != nil {
		content = *m.Content
	}
	out := map[string]any{"role": "assistant", "content": content}
	if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" && string(m.ToolCalls) != "[]" {
		out["tool_calls"] = m.ToolCalls
	}
	return orderedAssistant(out)
}

// orderedAssistant marshals role, content, then tool_calls.
func orderedAssistant(m map[string]any) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteString(`{"role":"assistant","content":`)
	c, err := json.Marshal(m["content"])
	if err != nil {
		return nil, err
	}
	b.Write(c)
	if tc, ok := m["tool_calls"]; ok {
		t, err := json.Marshal(tc)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"tool_calls":`)
		b.Write(t)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// embeddedResponder generates with the Go runtime.
type embeddedResponder struct {
	o    RegenOptions
	m    *llama.Model
	tok  *tokenizer.Tokenizer
	tmpl *chat.Template
	eos  []int
	st   *llama.State
}

func newEmbeddedResponder(o RegenOptions) (*embeddedResponder, error) {
	tok, err := tokenizer.LoadDir(o.Model)
	if err != nil {
		return nil, err
	}
	tmpl, err := chat.Load(o.Model)
	if err != nil {
		return nil, err
	}
	m, err := llama.Load(o.Model)
	if err != nil {
		return nil, err
	}
	eos, err := m.StopIDs(tok.EOS())
	if err != nil {
		return nil, err
	}
	if len(eos) == 0 {
		return nil, fmt.Errorf("regenerate: %s: no end-of-sequence token in config.json, generation_config.json or the tokenizer", o.Model)
	}
	return &embeddedResponder{o: o, m: m, tok: tok, tmpl: tmpl, eos: eos, st: m.NewState(1)}, nil
}

func (e *embeddedResponder) respond(ctx context.Context, row int, msgs, tools []json.RawMessage) (json.RawMessage, error) {
	var ts []any
	for _, t := range tools {
		var v any
		if err := json.Unmarshal(t, &v); err != nil {
			return nil, permanent{err}
		}
		ts = append(ts, v)
	}
	text, err := e.tmpl.Render(msgs, chat.RenderOptions{AddGenerationPrompt: true, Tools: ts})
	if err != nil {
		return nil, permanent{err}
	}
	ids := e.tok.Encode(text, false)
	prompt := make([]int32, len(ids))
	for i, v := range ids {
		prompt[i] = int32(v)
	}
	smp, err := sample.New(sample.Params{Temperature: e.o.Temperature, TopP: 1, Seed: e.o.Seed + uint64(row)})
	if err != nil {
		return nil, permanent{err}
	}
	e.st.Reset()
	gen, _, err := llama.Generate(e.st, prompt, llama.GenerateOptions{MaxTokens: e.o.MaxTokens, Sampler: smp, EOS: e.eos,
		OnToken: func(int32) error { return ctx.Err() }})
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(gen))
	for _, g := range gen {
		out = append(out, int(g))
	}
	return orderedAssistant(map[string]any{"content": e.tok.Decode(out, true)})
}
