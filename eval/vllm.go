package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// vLLM's spec-decode counters (prometheus_client exposes a counter X as
// the sample X_total; both spellings are accepted).
const (
	metricDrafts      = "vllm:spec_decode_num_drafts"
	metricDraftTokens = "vllm:spec_decode_num_draft_tokens"
	metricAccepted    = "vllm:spec_decode_num_accepted_tokens"
	metricPerPos      = "vllm:spec_decode_num_accepted_tokens_per_pos"
)

// maxMetricsBytes bounds a /metrics response.
const maxMetricsBytes = 64 << 20

// Counters is one scrape of the spec-decode counters, summed over label
// sets (engines, models). Present says which were exposed.
type Counters struct {
	Drafts, DraftTokens, Accepted float64
	PerPos                        map[int]float64
	Present                       map[string]bool
}

// ParseMetrics reads the Prometheus text exposition format.
func ParseMetrics(r io.Reader) (*Counters, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(r, maxMetricsBytes))
	if err != nil {
		return nil, fmt.Errorf("eval: metrics: %w", err)
	}
	c := &Counters{PerPos: map[int]float64{}, Present: map[string]bool{}}
	for name, f := range fams {
		base := strings.TrimSuffix(name, "_total")
		var dst *float64
		switch base {
		case metricDrafts:
			dst = &c.Drafts
		case metricDraftTokens:
			dst = &c.DraftTokens
		case metricAccepted:
			dst = &c.Accepted
		case metricPerPos:
		default:
			continue
		}
		c.Present[base] = true
		for _, m := range f.GetMetric() {
			v := value(m)
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, fmt.Errorf("eval: metrics: %s has value %v", name, v)
			}
			if dst != nil {
				*dst += v
				continue
			}
			pos := -1
			for _, l := range m.GetLabel() {
				if l.GetName() == "position" {
					if p, err := strconv.Atoi(l.GetValue()); err == nil && p >= 0 && p < 1024 {
						pos = p
					}
				}
			}
			if pos < 0 {
				return nil, fmt.Errorf("eval: metrics: %s without a valid position label", name)
			}
			c.PerPos[pos] += v
		}
	}
	return c, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// Delta is after − before. A counter that went down was reset (server
// restart) during the run: its after value is the whole increase since the
// reset, which is what Delta then uses, and Reset is set.
type Delta struct {
	Drafts, DraftTokens, Accepted float64
	PerPos                        []float64
	Reset                         bool
	Missing                       []string // counters the server does not expose
}

// Sub returns after − before with resets handled.
func Sub(after, before *Counters) Delta {
	var d Delta
	sub := func(a, b float64) float64 {
		if a < b {
			d.Reset = true
			return a
		}
		return a - b
	}
	d.Drafts = sub(after.Drafts, before.Drafts)
	d.DraftTokens = sub(after.DraftTokens, before.DraftTokens)
	d.Accepted = sub(after.Accepted, before.Accepted)
	n := 0
	for p := range after.PerPos {
		n = max(n, p+1)
	}
	d.PerPos = make([]float64, n)
	for p := range d.PerPos {
		d.PerPos[p] = sub(after.PerPos[p], before.PerPos[p])
	}
	for _, m := range []string{metricDrafts, metricDraftTokens, metricAccepted, metricPerPos} {
		if !after.Present[m] {
			d.Missing = append(d.Missing, m)
		}
	}
	return d
}

// Scrape fetches and parses url (the server's /metrics).
func Scrape(ctx context.Context, client *http.Client, url string) (*Counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("eval: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("eval: metrics: %s: %s", url, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// BenchOptions control Bench.
type BenchOptions struct {
	Endpoint    string // e.g. http://localhost:8000 (with or without /v1)
	Model       string
	Prompts     []Prompt // text goes to /v1/completions, messages to /v1/chat/completions
	Concurrency []int
	MaxTokens   int
	Temperature float64
	Client      *http.Client
	Log         io.Writer
}

// Percentiles are latency percentiles in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
}

// BenchResult is one concurrency level.
type BenchResult struct {
	Concurrency     int         `json:"concurrency"`
	Requests        int         `json:"requests"`
	Failed          int         `json:"failed"`
	OutputTokens    int         `json:"output_tokens"`
	Seconds         float64     `json:"seconds"`
	OutputTokPerSec float64     `json:"output_tokens_per_second"`
	TTFT            Percentiles `json:"ttft_ms"`
	ITL             Percentiles `json:"itl_ms"`
	Drafts          float64     `json:"num_drafts"`
	DraftTokens     float64     `json:"num_draft_tokens"`
	Accepted        float64     `json:"num_accepted_tokens"`
	AcceptedPerPos  []float64   `json:"num_accepted_tokens_per_pos"`
	Tau             float64     `json:"mean_acceptance_length"`  // 0 when the counters are missing
	PerPosition     []float64   `json:"acceptance_per_position"` // empty when missing
	AcceptanceRate  float64     `json:"mean_acceptance_rate"`
	CounterReset    bool        `json:"counter_reset,omitempty"`
	MissingMetrics  []string    `json:"missing_metrics,omitempty"`
}

// BenchReport is the JSON output of bench-vllm.
type BenchReport struct {
	Endpoint string        `json:"endpoint"`
	Model    string        `json:"served_model"`
	Results  []BenchResult `json:"results"`
}

func baseURL(endpoint string) (api, metrics string) {
	e := strings.TrimRight(endpoint, "/")
	root := strings.TrimSuffix(e, "/v1")
	return root + "/v1", root + "/metrics"
}

// Bench sends every prompt to the server's /v1/completions (streaming) at
// each concurrency and scrapes /metrics before and after each level.
func Bench(ctx context.Context, o BenchOptions) (*BenchReport, error) {
	if len(o.Prompts) == 0 {
		return nil, errors.New("eval: bench: no prompts")
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	api, metricsURL := baseURL(o.Endpoint)
	rep := &BenchReport{Endpoint: o.Endpoint, Model: o.Model}
	for _, conc := range o.Concurrency {
		if conc < 1 {
			return nil, fmt.Errorf("eval: bench: concurrency %d", conc)
		}
		before, err := Scrape(ctx, client, metricsURL)
		if err != nil {
			return nil, err
		}
		res := BenchResult{Concurrency: conc}
		var mu sync.Mutex
		var ttft, itl []float64
		var firstErr error
		jobs := make(chan Prompt)
		var wg sync.WaitGroup
		t0 := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range jobs {
					s, err := streamCompletion(ctx, client, api, o.Model, p, o.MaxTokens, o.Temperature)
					mu.Lock()
					res.Requests++
					if err != nil {
						res.Failed++
						if firstErr == nil {
							firstErr = err
						}
					} else {
						res.OutputTokens += s.tokens
						if s.ttft > 0 {
							ttft = append(ttft, s.ttft)
						}
						itl = append(itl, s.itl...)
					}
					mu.Unlock()
				}
			}()
		}
		for _, p := range o.Prompts {
			jobs <- p
		}
		close(jobs)
		wg.Wait()
		res.Seconds = time.Since(t0).Seconds()
		if res.Failed == res.Requests {
			return nil, fmt.Errorf("eval: bench: every request failed at concurrency %d: %w", conc, firstErr)
		}
		after, err := Scrape(ctx, client, metricsURL)
		if err != nil {
			return nil, err
		}
		d := Sub(after, before)
		res.OutputTokPerSec = float64(res.OutputTokens) / res.Seconds
		res.TTFT, res.ITL = percentiles(ttft), percentiles(itl)
		res.Drafts, res.DraftTokens, res.Accepted, res.AcceptedPerPos = d.Drafts, d.DraftTokens, d.Accepted, d.PerPos
		res.CounterReset, res.MissingMetrics = d.Reset, d.Missing
		if d.Drafts > 0 {
			res.Tau = 1 + d.Accepted/d.Drafts
			for _, a := range d.PerPos {
				res.PerPosition = append(res.PerPosition, a/d.Drafts)
			}
		}
		if d.DraftTokens > 0 {
			res.AcceptanceRate = d.Accepted / d.DraftTokens
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "bench-vllm: concurrency %d: %d requests (%d failed), %.1f output tokens/s, τ %.3f, TTFT p50 %.1f ms, ITL p50 %.1f ms\n",
				conc, res.Requests, res.Failed, res.OutputTokPerSec, res.Tau, res.TTFT.P50, res.ITL.P50)
			if res.CounterReset {
				fmt.Fprintf(o.Log, "bench-vllm: warning: a counter went down (server restart?); the increase since the reset is used\n")
			}
			if len(res.MissingMetrics) > 0 {
				fmt.Fprintf(o.Log, "bench-vllm: warning: the server does not expose %s (is speculative decoding on?)\n", strings.Join(res.MissingMetrics, ", "))
			}
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

type streamStats struct {
	tokens int
	ttft   float64   // ms
	itl    []float64 // ms between successive content chunks (vLLM's benchmark convention: a chunk may carry several tokens)
}

// maxSSELine bounds one server-sent event line.
const maxSSELine = 16 << 20

// streamCompletion sends one streaming completion and times its chunks.
// Tokens are counted from the final usage block when the server sends one
// (stream_options.include_usage), else as one per content chunk.
func streamCompletion(ctx context.Context, client *http.Client, api, model string, prompt Prompt, maxTokens int, temp float64) (streamStats, error) {
	var s streamStats
	reqBody := map[string]any{
		"model": model, "max_tokens": maxTokens, "temperature": temp,
		"stream": true, "stream_options": map[string]any{"include_usage": true}, "ignore_eos": true,
	}
	url := api + "/completions"
	if prompt.Messages != nil {
		reqBody["messages"] = prompt.Messages
		url = api + "/chat/completions"
	} else {
		reqBody["prompt"] = prompt.Text
	}
	body, err := json.Marshal(reqBody)
	if err != nil {
		return s, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return s, err
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return s, fmt.Errorf("eval: completions: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return s, fmt.Errorf("eval: completions: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxSSELine)
	var last time.Time
	chunks, usage := 0, -1
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			break
		}
		var ev struct {
			Choices []struct {
				Text  string `json:"text"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return s, fmt.Errorf("eval: completions: bad event: %w", err)
		}
		if ev.Error != nil {
			return s, fmt.Errorf("eval: completions: server error: %s", ev.Error.Message)
		}
		if ev.Usage != nil {
			usage = ev.Usage.CompletionTokens
		}
		if len(ev.Choices) == 0 || ev.Choices[0].Text == "" && ev.Choices[0].Delta.Content == "" {
			continue
		}
		now := time.Now()
		chunks++
		if last.IsZero() {
			s.ttft = float64(now.Sub(t0).Microseconds()) / 1000
		} else {
			s.itl = append(s.itl, float64(now.Sub(last).Microseconds())/1000)
		}
		last = now
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("eval: completions: %w", err)
	}
	s.tokens = chunks
	if usage >= 0 {
		s.tokens = usage
	}
	return s, nil
}

// percentiles uses linear interpolation between order statistics (numpy's default).
func percentiles(x []float64) Percentiles {
	if len(x) == 0 {
		return Percentiles{}
	}
	x = slices.Clone(x)
	slices.Sort(x)
	q := func(p float64) float64 {
		r := p * float64(len(x)-1)
		i := int(r)
		if i+1 >= len(x) {
			return x[len(x)-1]
		}
		return x[i] + (r-float64(i))*(x[i+1]-x[i])
	}
	var sum float64
	for _, v := range x {
		sum += v
	}
	return Percentiles{P50: q(0.5), P90: q(0.9), P99: q(0.99), Mean: sum / float64(len(x))}
}
