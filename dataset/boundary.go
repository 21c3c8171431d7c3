package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/tokenizer"
)

// Renderer renders a conversation prefix with the verifier's chat template
// and returns its token ids.
type Renderer interface {
	Render(ctx context.Context, messages, tools []json.RawMessage, addGenerationPrompt bool) ([]int, error)
}

// ErrBoundaryUnstable means the prompt and full renders of an assistant turn
// diverge inside the history, so no loss-mask boundary can be derived; the
// conversation is dropped (training-spec §1.3).
var ErrBoundaryUnstable = errors.New("dataset: chat template is not prefix-stable at an assistant turn boundary")

// ErrMultimodal means a conversation has media parts, which only a vLLM
// render endpoint can tokenize.
var ErrMultimodal = errors.New("dataset: media content parts need --render-endpoint")

// Row is one training row.
type Row struct {
	InputIDs []int64 // (S)
	LossMask []int64 // (S) 1 on supervised tokens
}

// Supervised counts the tokens with mask 1.
func (r Row) Supervised() int {
	n := 0
	for _, m := range r.LossMask {
		n += int(m)
	}
	return n
}

// BoundaryRows applies the render-boundary algorithm of training-spec §1.3 to
// a normalised conversation: one row per assistant turn j > 0, holding the
// render of messages[:j+1] with the tokens past the generation-prompt render
// of messages[:j] supervised. A turn whose prompt alone has maxLen or more
// tokens is skipped (later turns may fit again). When the generation prompt
// and the full render disagree (a pre-filled <think> scaffold), the boundary
// falls back to their common prefix, valid only if the history render is a
// prefix of the full render and not past the boundary; otherwise the whole
// conversation fails with ErrBoundaryUnstable.
func BoundaryRows(ctx context.Context, r Renderer, messages, tools []json.RawMessage, maxLen int) ([]Row, error) {
	var rows []Row
	for j, m := range messages {
		if j == 0 || messageRole(m) != "assistant" {
			continue
		}
		prompt, err := r.Render(ctx, messages[:j], tools, true)
		if err != nil {
			return nil, fmt.Errorf("render turn %d prompt: %w", j, err)
		}
		if len(prompt) >= maxLen {
			continue
		}
		full, err := r.Render(ctx, messages[:j+1], tools, false)
		if err != nil {
			return nil, fmt.Errorf("render turn %d: %w", j, err)
		}
		var b int
		if len(full) >= len(prompt) && slices.Equal(full[:len(prompt)], prompt) {
			b = len(prompt)
		} else {
			b = commonPrefix(prompt, full)
			hist, err := r.Render(ctx, messages[:j], tools, false)
			if err != nil {
				return nil, fmt.Errorf("render turn %d history: %w", j, err)
			}
			if len(full) < len(hist) || !slices.Equal(full[:len(hist)], hist) || b < len(hist) {
				return nil, fmt.Errorf("%w: prompt and full renders diverge inside history at assistant turn %d", ErrBoundaryUnstable, j)
			}
		}
		row := Row{InputIDs: make([]int64, len(full)), LossMask: make([]int64, len(full))}
		for i, id := range full {
			row.InputIDs[i] = int64(id)
			if i >= b {
				row.LossMask[i] = 1
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func messageRole(m json.RawMessage) string {
	var r struct {
		Role string `json:"role"`
	}
	json.Unmarshal(m, &r)
	return r.Role
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// ClipRow applies training-spec §1.4 to a row: truncate to maxLen, then
// report "unsupervised" when no supervised token is left, "filtered" when
// fewer than minValid (> 0) are, and "" when the row is kept.
func ClipRow(r Row, maxLen, minValid int) (Row, string) {
	if len(r.InputIDs) > maxLen {
		r.InputIDs, r.LossMask = r.InputIDs[:maxLen], r.LossMask[:maxLen]
	}
	n := r.Supervised()
	switch {
	case n == 0:
		return r, ReasonUnsupervised
	case minValid > 0 && n < minValid:
		return r, ReasonFiltered
	}
	return r, ""
}

// LocalRenderer renders with a chat template and tokenizer in-process, as
// transformers' apply_chat_template(tokenize=True) does (the rendered text is
// encoded without adding special tokens).
type LocalRenderer struct {
	Template  *chat.Template
	Tokenizer *tokenizer.Tokenizer
	Kwargs    map[string]any // chat_template_kwargs, e.g. enable_thinking
}

// Render implements Renderer.
func (l *LocalRenderer) Render(_ context.Context, messages, tools []json.RawMessage, addGenerationPrompt bool) ([]int, error) {
	for _, m := range messages {
		if hasMedia(m) {
			return nil, ErrMultimodal
		}
	}
	opts := chat.RenderOptions{AddGenerationPrompt: addGenerationPrompt, Kwargs: l.Kwargs}
	if tools != nil {
		opts.Tools = make([]any, len(tools))
		for i, t := range tools {
			opts.Tools[i] = t
		}
	}
	text, err := l.Template.Render(messages, opts)
	if err != nil {
		return nil, err
	}
	return l.Tokenizer.Encode(text, false), nil
}

func hasMedia(m json.RawMessage) bool {
	if bytes.IndexByte(m, '[') < 0 { // no list anywhere: content is not a list of parts
		return false
	}
	var msg struct {
		Content json.RawMessage `json:"content"`
	}
	json.Unmarshal(m, &msg)
	if jsonType(msg.Content) != "array" {
		return false
	}
	var parts []struct {
		Type string `json:"type"`
	}
	json.Unmarshal(msg.Content, &parts)
	for _, p := range parts {
		if p.Type != "text" {
			return true
		}
	}
	return false
}

// EndpointRenderer renders through a vLLM server's
// POST {Endpoint}/v1/chat/completions/render (training-spec §1.3): body
// {"messages", "add_generation_prompt", ["tools"], ["chat_template_kwargs"]},
// response {"token_ids": [...]}. Each request has a 30 s timeout and up to
// 3 retries with 2, 4, 8 s backoff; 4xx answers other than 408 and 429 are
// not retried.
type EndpointRenderer struct {
	Endpoint string // base URL without /v1
	Kwargs   map[string]any
	Client   *http.Client // nil: a pooled client with a 30 s timeout
	Backoff  func(attempt int) time.Duration
}

const maxRenderResponse = 256 << 20

var defaultRenderClient = &http.Client{Timeout: 30 * time.Second}

type permanentError struct{ error }

// Render implements Renderer.
func (e *EndpointRenderer) Render(ctx context.Context, messages, tools []json.RawMessage, addGenerationPrompt bool) ([]int, error) {
	body := map[string]any{"messages": messages, "add_generation_prompt": addGenerationPrompt}
	if tools != nil {
		body["tools"] = tools
	}
	if e.Kwargs != nil {
		body["chat_template_kwargs"] = e.Kwargs
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	url := strings.TrimRight(e.Endpoint, "/") + "/v1/chat/completions/render"
	backoff := e.Backoff
	if backoff == nil {
		backoff = func(a int) time.Duration { return time.Duration(1<<a) * time.Second }
	}
	var last error
	for attempt := 0; attempt <= 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff(attempt)):
			}
		}
		ids, err := e.post(ctx, url, payload)
		if err == nil {
			return ids, nil
		}
		last = err
		var pe permanentError
		if errors.As(err, &pe) || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w (after 4 attempts)", last)
}

func (e *EndpointRenderer) post(ctx context.Context, url string, payload []byte) ([]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	c := e.Client
	if c == nil {
		c = defaultRenderClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("render endpoint: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRenderResponse+1))
	if err != nil {
		return nil, fmt.Errorf("render endpoint: read response: %w", err)
	}
	if len(data) > maxRenderResponse {
		return nil, permanentError{fmt.Errorf("render endpoint: response larger than %d bytes", maxRenderResponse)}
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("render endpoint returned %d: %.300s", resp.StatusCode, data)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			return nil, permanentError{err}
		}
		return nil, err
	}
	var out struct {
		TokenIDs *[]int `json:"token_ids"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("render endpoint: response is not JSON with integer token_ids: %w", err)
	}
	if out.TokenIDs == nil {
		return nil, fmt.Errorf("render endpoint: response has no token_ids: %.300s", data)
	}
	for i, id := range *out.TokenIDs {
		if id < 0 || id > 1<<31 {
			return nil, permanentError{fmt.Errorf("render endpoint: token_ids[%d] = %d is not a token id", i, id)}
		}
	}
	return *out.TokenIDs, nil
}
