package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeVLLM speaks the OpenAI streaming completions API and exposes
// spec-decode counters: each request of n tokens adds drafts of K tokens
// with a fixed acceptance pattern (first two positions always, third
// never), so τ = 3 exactly.
type fakeVLLM struct {
	mu                                sync.Mutex
	drafts, draftTokens, accepted     int
	perPos                            [3]int
	resetAfter                        int // zero the counters after this many requests (0: never)
	requests                          int
	noPerPos, noSpec, usage, multiTok bool
}

const fakeK = 3

func (f *fakeVLLM) handler() http.Handler {
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, r *http.Request) {
		chat := r.URL.Path == "/v1/chat/completions"
		var req struct {
			MaxTokens int    `json:"max_tokens"`
			Stream    bool   `json:"stream"`
			Model     string `json:"model"`
			Prompt    *string
			Messages  []struct{ Role, Content string }
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Stream || req.Model != "m" ||
			chat != (len(req.Messages) > 0) || chat == (req.Prompt != nil) {
			http.Error(w, "bad request", 400)
			return
		}
		fl := w.(http.Flusher)
		w.Header().Set("Content-Type", "text/event-stream")
		step := 1
		if f.multiTok {
			step = 3
		}
		for i := 0; i < req.MaxTokens; i += step {
			time.Sleep(time.Millisecond)
			if chat {
				fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\"t%d\"}}]}\n\n", i)
			} else {
				fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"t%d\"}]}\n\n", i)
			}
			fl.Flush()
		}
		if f.usage {
			fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":%d}}\n\n", req.MaxTokens)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		f.mu.Lock()
		defer f.mu.Unlock()
		// Each draft yields 3 tokens (2 accepted + 1 bonus).
		d := req.MaxTokens / 3
		f.drafts += d
		f.draftTokens += d * fakeK
		f.accepted += 2 * d
		f.perPos[0] += d
		f.perPos[1] += d
		f.requests++
		if f.resetAfter > 0 && f.requests == f.resetAfter {
			f.drafts, f.draftTokens, f.accepted, f.perPos = 0, 0, 0, [3]int{}
		}
	}
	mux.HandleFunc("/v1/completions", serve)
	mux.HandleFunc("/v1/chat/completions", serve)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fmt.Fprintln(w, "# HELP vllm:generation_tokens_total Number of generation tokens processed.")
		fmt.Fprintln(w, "# TYPE vllm:generation_tokens_total counter")
		fmt.Fprintln(w, `vllm:generation_tokens_total{engine="0",model_name="m"} 123.0`)
		if f.noSpec {
			return
		}
		for _, c := range []struct {
			name string
			v    int
		}{{"vllm:spec_decode_num_drafts", f.drafts}, {"vllm:spec_decode_num_draft_tokens", f.draftTokens}, {"vllm:spec_decode_num_accepted_tokens", f.accepted}} {
			fmt.Fprintf(w, "# HELP %s x\n# TYPE %s counter\n", c.name, c.name)
			// Two engines: the counters are summed.
			fmt.Fprintf(w, "%s_total{engine=\"0\",model_name=\"m\"} %d.0\n", c.name, c.v-c.v/2)
			fmt.Fprintf(w, "%s_total{engine=\"1\",model_name=\"m\"} %d.0\n", c.name, c.v/2)
			fmt.Fprintf(w, "%s_created{engine=\"0\",model_name=\"m\"} 1.7e9\n", c.name)
		}
		if !f.noPerPos {
			fmt.Fprintln(w, "# TYPE vllm:spec_decode_num_accepted_tokens_per_pos counter")
			for p, v := range f.perPos {
				fmt.Fprintf(w, "vllm:spec_decode_num_accepted_tokens_per_pos_total{engine=\"0\",model_name=\"m\",position=\"%d\"} %d.0\n", p, v)
			}
		}
	})
	return mux
}

func runBench(t *testing.T, f *fakeVLLM, conc []int) *BenchReport {
	t.Helper()
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	prompts := make([]Prompt, 8)
	for i := range prompts {
		prompts[i] = Prompt{Text: fmt.Sprintf("prompt %d", i)}
	}
	// Chat prompts go to /v1/chat/completions.
	prompts[3] = Prompt{Messages: []json.RawMessage{json.RawMessage(`{"role":"user","content":"hi"}`)}}
	rep, err := Bench(context.Background(), BenchOptions{Endpoint: srv.URL + "/v1", Model: "m", Prompts: prompts,
		Concurrency: conc, MaxTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestBenchVLLM(t *testing.T) {
	rep := runBench(t, &fakeVLLM{usage: true}, []int{1, 4})
	if len(rep.Results) != 2 {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Requests != 8 || r.Failed != 0 || r.OutputTokens != 8*12 {
			t.Errorf("concurrency %d: %d requests, %d failed, %d tokens", r.Concurrency, r.Requests, r.Failed, r.OutputTokens)
		}
		// Each level sees only its own 8 requests × 4 drafts.
		if r.Drafts != 32 || r.DraftTokens != 96 || r.Accepted != 64 {
			t.Errorf("concurrency %d: deltas %v %v %v", r.Concurrency, r.Drafts, r.DraftTokens, r.Accepted)
		}
		if r.Tau != 3 || len(r.PerPosition) != 3 || r.PerPosition[0] != 1 || r.PerPosition[1] != 1 || r.PerPosition[2] != 0 {
			t.Errorf("concurrency %d: τ %v, per position %v", r.Concurrency, r.Tau, r.PerPosition)
		}
		sum := 1.0
		for _, a := range r.PerPosition {
			sum += a
		}
		if math.Abs(sum-r.Tau) > 1e-12 || math.Abs(r.AcceptanceRate-(r.Tau-1)/fakeK) > 1e-12 {
			t.Errorf("identities: τ %v, 1+Σ %v, rate %v", r.Tau, sum, r.AcceptanceRate)
		}
		if r.TTFT.P50 <= 0 || r.ITL.P50 <= 0 || r.ITL.P99 < r.ITL.P50 || r.OutputTokPerSec <= 0 {
			t.Errorf("latencies %+v %+v, %v tokens/s", r.TTFT, r.ITL, r.OutputTokPerSec)
		}
		if r.CounterReset || len(r.MissingMetrics) != 0 {
			t.Errorf("spurious reset %v or missing %v", r.CounterReset, r.MissingMetrics)
		}
	}
}

func TestBenchVLLMResetAndMissing(t *testing.T) {
	// The counters start at 100 drafts (an earlier run) and drop to zero
	// after the 5th request: the after value
	// (3 requests' worth) is used and the reset flagged.
	r := runBench(t, &fakeVLLM{resetAfter: 5, drafts: 100, draftTokens: 300, accepted: 200, perPos: [3]int{100, 100, 0}}, []int{1}).Results[0]
	if !r.CounterReset || r.Drafts != 12 || r.Tau != 3 {
		t.Errorf("reset: %v, drafts %v, τ %v", r.CounterReset, r.Drafts, r.Tau)
	}
	// Without usage blocks, tokens are counted per chunk.
	if r.OutputTokens != 8*12 {
		t.Errorf("%d tokens counted from chunks", r.OutputTokens)
	}
	r = runBench(t, &fakeVLLM{noPerPos: true}, []int{2}).Results[0]
	if r.Tau != 3 || len(r.PerPosition) != 0 || strings.Join(r.MissingMetrics, ",") != metricPerPos {
		t.Errorf("no per-position metric: τ %v, %v, missing %v", r.Tau, r.PerPosition, r.MissingMetrics)
	}
	r = runBench(t, &fakeVLLM{noSpec: true}, []int{2}).Results[0]
	if r.Tau != 0 || len(r.MissingMetrics) != 4 || r.OutputTokens != 96 {
		t.Errorf("no spec decoding: τ %v, missing %v, %d tokens", r.Tau, r.MissingMetrics, r.OutputTokens)
	}
	// Several tokens per chunk: the usage block gives the count.
	r = runBench(t, &fakeVLLM{usage: true, multiTok: true}, []int{1}).Results[0]
	if r.OutputTokens != 96 {
		t.Errorf("multi-token chunks: %d tokens", r.OutputTokens)
	}
}

func TestBenchVLLMErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprintln(w, "vllm:spec_decode_num_drafts_total 1")
			return
		}
		http.Error(w, "model not found", 404)
	}))
	defer srv.Close()
	_, err := Bench(context.Background(), BenchOptions{Endpoint: srv.URL, Model: "m", Prompts: []Prompt{{Text: "x"}}, Concurrency: []int{1}, MaxTokens: 4})
	if err == nil || !strings.Contains(err.Error(), "model not found") {
		t.Errorf("failing server: %v", err)
	}
	for _, bad := range []string{
		"vllm:spec_decode_num_drafts_total NaN\n",
		"vllm:spec_decode_num_drafts_total -3\n",
		"vllm:spec_decode_num_accepted_tokens_per_pos_total{position=\"x\"} 3\n",
		"vllm:spec_decode_num_drafts_total{ 3\n",
	} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	// numpy.percentile([1,2,3,4,5,6,7,8,9,10], [50, 90, 99]) = 5.5, 9.1, 9.91
	p := percentiles([]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1})
	if math.Abs(p.P50-5.5) > 1e-12 || math.Abs(p.P90-9.1) > 1e-12 || math.Abs(p.P99-9.91) > 1e-12 || p.Mean != 5.5 {
		t.Errorf("%+v", p)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("vllm:spec_decode_num_drafts_total{engine=\"0\"} 3\n")
	f.Add("# TYPE vllm:spec_decode_num_accepted_tokens_per_pos counter\nvllm:spec_decode_num_accepted_tokens_per_pos_total{position=\"1\"} 2.0\n")
	f.Add("# HELP x y\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_sum 1\nx_count 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseMetrics(strings.NewReader(s))
		if err != nil {
			return
		}
		_ = Sub(c, &Counters{PerPos: map[int]float64{}, Present: map[string]bool{}})
	})
}
