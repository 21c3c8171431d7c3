package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeVLLM serves /v1/chat/completions/render by rendering locally, and
// records what it was sent.
type fakeVLLM struct {
	r       *LocalRenderer
	fail    []int // status codes to answer first, one per request
	calls   atomic.Int64
	lastReq atomic.Value // map[string]json.RawMessage
}

func (f *fakeVLLM) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := int(f.calls.Add(1)) - 1
	if req.URL.Path != "/v1/chat/completions/render" || req.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if n < len(f.fail) {
		http.Error(w, "try later", f.fail[n])
		return
	}
	var body struct {
		Messages            []json.RawMessage `json:"messages"`
		AddGenerationPrompt bool              `json:"add_generation_prompt"`
		Tools               []json.RawMessage `json:"tools"`
		Kwargs              map[string]any    `json:"chat_template_kwargs"`
	}
	raw := map[string]json.RawMessage{}
	data := new(bytes.Buffer)
	data.ReadFrom(req.Body)
	json.Unmarshal(data.Bytes(), &raw)
	f.lastReq.Store(raw)
	if err := json.Unmarshal(data.Bytes(), &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	lr := *f.r
	lr.Kwargs = body.Kwargs
	ids, err := lr.Render(req.Context(), body.Messages, body.Tools, body.AddGenerationPrompt)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"token_ids": ids, "request_id": "x"})
}

func TestEndpointRenderer(t *testing.T) {
	local := localRenderer(t, "qwen3", nil)
	fake := &fakeVLLM{r: local}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	noWait := func(int) time.Duration { return time.Millisecond }
	ep := &EndpointRenderer{Endpoint: srv.URL + "/", Kwargs: map[string]any{"enable_thinking": false}, Backoff: noWait}

	ex, p := parseRow([]byte(`{"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "Sunny."}], "tools": [{"type": "function", "function": {"name": "w"}}]}`), Location{}, nil)
	if p != nil {
		t.Fatal(p)
	}
	got, err := BoundaryRows(context.Background(), ep, ex.Messages, ex.Tools, 8192)
	if err != nil {
		t.Fatal(err)
	}
	lr := *local
	lr.Kwargs = map[string]any{"enable_thinking": false}
	want, _ := BoundaryRows(context.Background(), &lr, ex.Messages, ex.Tools, 8192)
	if len(got) != 1 || len(want) != 1 || !slices.Equal(got[0].InputIDs, want[0].InputIDs) || !slices.Equal(got[0].LossMask, want[0].LossMask) {
		t.Fatalf("endpoint rows differ from local rows")
	}
	req := fake.lastReq.Load().(map[string]json.RawMessage)
	for _, k := range []string{"messages", "add_generation_prompt", "tools", "chat_template_kwargs"} {
		if _, ok := req[k]; !ok {
			t.Errorf("request lacks %q: %v", k, req)
		}
	}
	if string(req["chat_template_kwargs"]) != `{"enable_thinking":false}` {
		t.Errorf("chat_template_kwargs = %s", req["chat_template_kwargs"])
	}

	// Retries: 503, 429 and 408 are retried, 400 is not.
	msgs := ex.Messages[:1]
	fake.fail, fake.calls = []int{503, 429, 408}, atomic.Int64{}
	if _, err := ep.Render(context.Background(), msgs, nil, true); err != nil || fake.calls.Load() != 4 {
		t.Errorf("3 transient failures: err %v after %d calls, want success after 4", err, fake.calls.Load())
	}
	fake.fail, fake.calls = []int{503, 503, 503, 503, 503}, atomic.Int64{}
	if _, err := ep.Render(context.Background(), msgs, nil, true); err == nil || fake.calls.Load() != 4 {
		t.Errorf("persistent 503: err %v after %d calls, want failure after 4", err, fake.calls.Load())
	}
	fake.fail, fake.calls = []int{400}, atomic.Int64{}
	if _, err := ep.Render(context.Background(), msgs, nil, true); err == nil || !strings.Contains(err.Error(), "400") || fake.calls.Load() != 1 {
		t.Errorf("400: err %v after %d calls, want failure after 1", err, fake.calls.Load())
	}
	fake.fail = nil

	// A response without token_ids, or not JSON, is an error.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ids": [1]}`)) }))
	defer bad.Close()
	if _, err := (&EndpointRenderer{Endpoint: bad.URL, Backoff: noWait}).Render(context.Background(), msgs, nil, true); err == nil || !strings.Contains(err.Error(), "token_ids") {
		t.Errorf("missing token_ids: %v", err)
	}

	// prepare --render-endpoint gives the same rows as local rendering.
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sources(t, data)
	local1, err := Prepare(context.Background(), Options{Model: npmModel(t, "qwen3"), Sources: []string{data}, Output: filepath.Join(dir, "a"), Renderer: local})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := Prepare(context.Background(), Options{Model: npmModel(t, "qwen3"), Sources: []string{data}, Output: filepath.Join(dir, "b"), RenderEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a", local1.Shards[0].File))
	b, _ := os.ReadFile(filepath.Join(dir, "b", remote.Shards[0].File))
	if !bytes.Equal(a, b) {
		t.Error("--render-endpoint output differs from local output")
	}
}
