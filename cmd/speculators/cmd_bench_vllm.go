package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/eval"
	"github.com/speculators-go/speculators/safetensors"
)

func init() { commands = append(commands, newBenchVLLMCmd) }

func newBenchVLLMCmd() *cobra.Command {
	var (
		endpoint, model, prompts, data, conc, output string
		maxTokens, maxSamples                        int
		temperature                                  float64
	)
	cmd := &cobra.Command{
		Use:   "bench-vllm --endpoint URL --served-model NAME (--prompts FILE | --data FILE)",
		Short: "Benchmark a running vLLM server: acceptance, throughput, latency",
		Long: `Sends every prompt to a running vLLM server through its OpenAI API
(streaming /v1/completions for text, /v1/chat/completions for chat rows) at
each --concurrency level, and scrapes /metrics before and after each level
for the spec-decode counters (vllm:spec_decode_num_drafts, _draft_tokens,
_accepted_tokens, _accepted_tokens_per_pos). Reports per level: τ = 1 +
accepted/drafts, per-position acceptance, mean acceptance rate, output
tokens/s, time-to-first-token and inter-token latency percentiles (ITL per
streamed chunk, as vLLM's benchmark counts it). A counter reset during a
level (server restart) is flagged and the post-reset count used; missing
counters (speculation off) are listed and leave τ at 0.

--prompts / --data: one prompt per line, plain text or JSON rows ("prompt",
"text", "messages" or ShareGPT "conversations"). Requests ask for exactly
--max-tokens tokens (ignore_eos). Writes OUT/bench.json and OUT/bench.png.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if endpoint == "" || model == "" || (prompts == "") == (data == "") {
				return &usageError{errors.New("bench-vllm: need --endpoint, --served-model and exactly one of --prompts, --data")}
			}
			var levels []int
			for _, s := range strings.Split(conc, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n < 1 || n > 4096 {
					return &usageError{fmt.Errorf("bench-vllm: bad --concurrency %q", conc)}
				}
				levels = append(levels, n)
			}
			if maxTokens < 1 {
				return &usageError{errors.New("bench-vllm: --max-tokens must be ≥ 1")}
			}
			src := prompts
			if src == "" {
				src = data
			}
			ps, err := eval.LoadPrompts(src, maxSamples)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(output, 0o755); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			if ctx == nil {
				ctx = context.Background()
			}
			rep, err := eval.Bench(ctx, eval.BenchOptions{Endpoint: endpoint, Model: model, Prompts: ps, Concurrency: levels,
				MaxTokens: maxTokens, Temperature: temperature, Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := safetensors.WriteAtomic(filepath.Join(output, "bench.json"), append(b, '\n')); err != nil {
				return err
			}
			var series []eval.Series
			for _, r := range rep.Results {
				if len(r.PerPosition) > 0 {
					series = append(series, eval.Series{Label: fmt.Sprintf("c=%d tau=%.2f", r.Concurrency, r.Tau), Values: r.PerPosition})
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-11s %8s %10s %8s %10s %10s %10s %10s\n", "concurrency", "tau", "accept", "tok/s", "ttft p50", "ttft p99", "itl p50", "itl p99")
			for _, r := range rep.Results {
				fmt.Fprintf(w, "%-11d %8.3f %10.3f %8.1f %10.1f %10.1f %10.1f %10.1f\n", r.Concurrency, r.Tau, r.AcceptanceRate,
					r.OutputTokPerSec, r.TTFT.P50, r.TTFT.P99, r.ITL.P50, r.ITL.P99)
			}
			if len(series) > 0 {
				if err := eval.WritePlot(filepath.Join(output, "bench.png"), "vllm acceptance per position", series); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "", "server URL, e.g. http://localhost:8000 or http://localhost:8000/v1")
	f.StringVar(&model, "served-model", "", "model name the server serves")
	f.StringVar(&prompts, "prompts", "", "prompts file (text lines or JSON rows)")
	f.StringVar(&data, "data", "", "local JSON-lines dataset of conversations")
	f.StringVar(&conc, "concurrency", "1,4,16", "comma-separated concurrency levels")
	f.IntVar(&maxTokens, "max-tokens", 256, "tokens per request")
	f.IntVar(&maxSamples, "max-samples", 0, "use at most this many prompts (0 = all)")
	f.Float64Var(&temperature, "temperature", 0, "sampling temperature")
	f.StringVar(&output, "output", ".", "directory for bench.json and bench.png")
	return cmd
}
