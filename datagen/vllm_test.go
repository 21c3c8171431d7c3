package datagen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/model/llama"
)

// fakeVLLM implements vLLM's side of the extract_hidden_states exchange
// (training-spec §2.3): GET /v1/models, and POST /v1/completions, which
// runs the prompt through the embedded runtime, writes the hidden states
// file under a held <file>.lock (released shortly after the response, as
// the connector finishes writing), and answers with prompt_token_ids and
// kv_transfer_params.hidden_states_path. fault injects failures.
type fakeVLLM struct {
	t       *testing.T
	m       *llama.Model
	capture []int
	storage string
	rows    map[string]int // prompt -> row
	fault   func(row, attempt int) string

	mu       sync.Mutex
	attempts map[int]int
	seq      int
	served   atomic.Int64 // successful completions
	dieAfter int64        // > 0: after this many successes the server drops every connection
	wg       sync.WaitGroup
}

func newFakeVLLM(t *testing.T, model string, capture []int, rows []dataset.Row) *fakeVLLM {
	m, err := llama.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVLLM{t: t, m: m, capture: capture, storage: t.TempDir(), rows: map[string]int{}, attempts: map[int]int{}}
	for i, r := range rows {
		f.rows[fmt.Sprint(r.InputIDs)] = i
	}
	return f
}

func (f *fakeVLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.dieAfter > 0 && f.served.Load() >= f.dieAfter {
		hj, ok := w.(http.Hijacker)
		if ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	switch r.URL.Path {
	case "/v1/models":
		fmt.Fprint(w, `{"object": "list", "data": [{"id": "tiny-llama", "object": "model"}]}`)
		return
	case "/v1/completions":
	default:
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model          string  `json:"model"`
		Prompt         []int64 `json:"prompt"`
		MaxTokens      int     `json:"max_tokens"`
		ReturnTokenIDs bool    `json:"return_token_ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "tiny-llama" || req.MaxTokens != 1 || !req.ReturnTokenIDs {
		http.Error(w, fmt.Sprintf("bad request %+v %v", req, err), http.StatusBadRequest)
		return
	}
	row, ok := f.rows[fmt.Sprint(req.Prompt)]
	if !ok {
		http.Error(w, "unknown prompt", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	attempt := f.attempts[row]
	f.attempts[row]++
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	fault := ""
	if f.fault != nil {
		fault = f.fault(row, attempt)
	}
	switch fault {
	case "timeout":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case "5xx":
		http.Error(w, "engine dead", http.StatusServiceUnavailable)
		return
	case "badjson":
		fmt.Fprint(w, `{"choices": [{"text": "x", "prompt_token_ids": [1, 2`)
		return
	}
	path := filepath.Join(f.storage, fmt.Sprintf("req-%d.safetensors", seq))
	prompt := append([]int64(nil), req.Prompt...)
	switch fault {
	case "nofile":
		path = filepath.Join(f.storage, "never-written.safetensors")
	case "mismatch":
		prompt[0] = (prompt[0] + 1) % 320
	default:
		// The connector holds <file>.lock while it writes the file, after
		// the response has gone out.
		lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			f.t.Error(err)
			return
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			f.t.Error(err)
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer lock.Close()
			time.Sleep(20 * time.Millisecond)
			f.write(path, req.Prompt)
			syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		}()
	}
	f.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "cmpl-1", "object": "text_completion", "model": "tiny-llama",
		"choices":            []any{map[string]any{"index": 0, "text": "x", "prompt_token_ids": prompt, "finish_reason": "length"}},
		"kv_transfer_params": map[string]any{"hidden_states_path": path},
	})
}

// write computes one row alone, as vLLM would, in BF16.
func (f *fakeVLLM) write(path string, ids []int64) {
	e := &embedded{m: f.m, cap: f.capture, states: map[int]*llama.State{}}
	hs, err := e.Prefill([][]int64{ids})
	if err != nil {
		f.t.Error(err)
		return
	}
	if err := hs[0].Write(path); err != nil {
		f.t.Error(err)
	}
}

func (f *fakeVLLM) count(row int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[row]
}

func (f *fakeVLLM) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.attempts {
		n += a
	}
	return n
}

// embeddedReference writes the files the embedded backend makes one row at
// a time: what every vLLM-made file must equal byte for byte.
func embeddedReference(t *testing.T, model string, rows []dataset.Row, aux []int) map[string][]byte {
	out := t.TempDir()
	if _, err := Run(context.Background(), Options{Rows: rows, Output: out, Model: model, Layers: aux, BatchRows: 1}); err != nil {
		t.Fatal(err)
	}
	return readDir(t, out)
}

func vllmOptions(url, out string, rows []dataset.Row) Options {
	return Options{Rows: rows, Output: out, Endpoint: url + "/v1", ModelName: "tiny-llama", Layers: []int{1, 2, 3}, LastLayer: 4,
		Concurrency: 4, RequestTimeout: time.Second, Backoff: 10 * time.Millisecond, Validate: true,
		MaxConsecutiveErrors: 100}
}

// TestVLLMFaults: timeouts, 5xx, malformed JSON and missing files are
// retried; a server that keeps failing or answers for other tokens fails
// the row; a re-run requests exactly the failed rows.
func TestVLLMFaults(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(14, 20, 320, 5)
	want := embeddedReference(t, model, rows, []int{1, 2, 3})
	f := newFakeVLLM(t, model, []int{1, 2, 3, 4}, rows)
	faults := map[int][]string{
		1: {"timeout"}, 2: {"5xx", "5xx"}, 3: {"badjson"}, 4: {"nofile"},
		5: {"5xx", "5xx", "5xx", "5xx"}, // more than --max-retries 3
		6: {"mismatch"},                 // never retried
		7: {"timeout", "badjson", "nofile"},
	}
	f.fault = func(row, attempt int) string {
		if fs := faults[row]; attempt < len(fs) {
			return fs[attempt]
		}
		return ""
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	out := t.TempDir()
	sum, err := Run(context.Background(), vllmOptions(srv.URL, out, rows))
	if err != nil {
		t.Fatal(err)
	}
	f.wg.Wait()
	if len(sum.Failed) != 2 || sum.Failed[0].Row != 5 || sum.Failed[1].Row != 6 || sum.Written != 12 {
		t.Fatalf("written %d, failed %+v", sum.Written, sum.Failed)
	}
	if !strings.Contains(sum.Failed[1].Err, "mismatch") || !strings.Contains(sum.Failed[0].Err, "503") {
		t.Errorf("errors: %+v", sum.Failed)
	}
	for row, n := range map[int]int{0: 1, 1: 2, 2: 3, 3: 2, 4: 2, 5: 4, 6: 1, 7: 4} {
		if got := f.count(row); got != n {
			t.Errorf("row %d: %d requests, want %d", row, got, n)
		}
	}
	man, err := ReadManifest(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if man.Complete || len(man.Failed) != 2 || man.Verifier != "tiny-llama" || man.HiddenSize != 64 || fmt.Sprint(man.LayerIDs) != "[1 2 3 4]" {
		t.Fatalf("manifest %+v", man)
	}
	// Re-run with a healthy server: only rows 5 and 6 are requested.
	f.fault = nil
	before := f.total()
	sum, err = Run(context.Background(), vllmOptions(srv.URL, out, rows))
	if err != nil {
		t.Fatal(err)
	}
	f.wg.Wait()
	if sum.Kept != 12 || sum.Written != 2 || len(sum.Failed) != 0 || f.total()-before != 2 {
		t.Fatalf("re-run: %+v, %d requests", sum, f.total()-before)
	}
	sameFiles(t, readDir(t, out), want)
	left, _ := os.ReadDir(f.storage)
	for _, e := range left {
		if !strings.HasPrefix(e.Name(), "never") {
			t.Errorf("%s left in the connector's storage", e.Name())
		}
	}
}

// TestVLLMServerDies: the server drops every connection after 9 rows; the
// run stops on consecutive errors, every file written is complete, and a
// re-run against a new server requests only the missing rows.
func TestVLLMServerDies(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(30, 16, 320, 6)
	want := embeddedReference(t, model, rows, []int{1, 2, 3})
	f := newFakeVLLM(t, model, []int{1, 2, 3, 4}, rows)
	f.dieAfter = 9
	srv := httptest.NewServer(f)
	out := t.TempDir()
	o := vllmOptions(srv.URL, out, rows)
	o.MaxConsecutiveErrors, o.MaxRetries = 3, 1
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.wg.Wait()
	srv.Close()
	// A row whose response came back just before the abort may be left to
	// the re-run (its in-flight wait for the file is cancelled).
	first := sum.Written
	if sum.Aborted == "" || first < 5 || first > 9 {
		t.Fatalf("first run: written %d, aborted %q", sum.Written, sum.Aborted)
	}
	got := readDir(t, out)
	for name, b := range got {
		if string(want[name]) != string(b) {
			t.Fatalf("%s differs after the server died", name)
		}
	}
	f2 := newFakeVLLM(t, model, []int{1, 2, 3, 4}, rows)
	srv2 := httptest.NewServer(f2)
	defer srv2.Close()
	sum, err = Run(context.Background(), vllmOptions(srv2.URL, out, rows))
	if err != nil {
		t.Fatal(err)
	}
	f2.wg.Wait()
	if sum.Kept != first || sum.Written != 30-first || f2.total() != 30-first {
		t.Fatalf("re-run: kept %d written %d, %d requests", sum.Kept, sum.Written, f2.total())
	}
	sameFiles(t, readDir(t, out), want)
}

func TestVLLMModelCheck(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(2, 5, 320, 7)
	f := newFakeVLLM(t, model, []int{1, 2, 3, 4}, rows)
	srv := httptest.NewServer(f)
	defer srv.Close()
	o := vllmOptions(srv.URL, t.TempDir(), rows)
	o.ModelName = "other"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "tiny-llama") {
		t.Fatalf("err %v", err)
	}
	// Wrong layer count: the server captures 4 slots, the run expects 3.
	o = vllmOptions(srv.URL, t.TempDir(), rows)
	o.Layers, o.MaxRetries = []int{1, 2}, -1
	sum, err := Run(context.Background(), o)
	f.wg.Wait()
	if err != nil || len(sum.Failed) != 2 || !strings.Contains(sum.Failed[0].Err, "layer slots") {
		t.Fatalf("%+v %v", sum, err)
	}
}
