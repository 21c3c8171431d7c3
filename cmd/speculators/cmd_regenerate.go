package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/datagen"
)

func init() { commands = append(commands, newRegenerateCmd) }

func newRegenerateCmd() *cobra.Command {
	var (
		o       datagen.RegenOptions
		timeout float64
	)
	cmd := &cobra.Command{
		Use:   "regenerate --data SOURCE --output OUT.jsonl (--model DIR | --endpoint URL --served-model NAME)",
		Short: "Replace every assistant turn with the verifier's own response (on-policy data)",
		Long: `Regenerate the assistant turns of chat conversations with the verifier, so a
draft trains on what the verifier itself says. Each assistant turn is replaced
by the verifier's response to the conversation before it, turn by turn: later
turns see the verifier's earlier replies; user turns and tool results are kept.

With --model the embedded runtime generates on the CPU (chat template and
tokenizer from DIR). With --endpoint it calls vLLM's OpenAI-compatible
/v1/chat/completions (--concurrency requests in flight, failed requests
retried --max-retries times with doubling backoff).

OUT gets one JSON line per conversation: {"id": "<file>:<row>", "messages":
[...], "tools": [...]}, the OpenAI messages form that "speculators prepare"
reads. Re-running appends only the conversations not yet in OUT (a torn last
line is cut off). Exit code 1 when any conversation failed; the summary lists them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Data) == 0 || o.Output == "" {
				return &usageError{errors.New("regenerate: need --data and --output")}
			}
			if (o.Model == "") == (o.Endpoint == "") {
				return &usageError{errors.New("regenerate: need exactly one of --model and --endpoint")}
			}
			if o.Endpoint != "" && o.ServedModel == "" {
				return &usageError{errors.New("regenerate: --endpoint needs --served-model")}
			}
			if o.Temperature < 0 || o.MaxTokens < 1 {
				return &usageError{errors.New("regenerate: --temperature must be ≥ 0 and --max-tokens ≥ 1")}
			}
			o.RequestTimeout = time.Duration(timeout * float64(time.Second))
			if o.MaxRetries == 0 {
				o.MaxRetries = -1
			}
			errw := cmd.ErrOrStderr()
			o.Log = func(s string) { fmt.Fprintln(errw, s) }
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := datagen.Regenerate(ctx, o)
			if err != nil {
				return err
			}
			if len(sum.Failed) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("regenerate: %d conversations failed; re-run to retry them", len(sum.Failed))}
			}
			return ctx.Err()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Data, "data", nil, "source conversations (file, folder or name:split); repeatable")
	f.StringVar(&o.Output, "output", "", "output JSONL file")
	f.StringVar(&o.Model, "model", "", "embedded: verifier model directory")
	f.StringVar(&o.Endpoint, "endpoint", "", "vLLM: base URL, e.g. http://localhost:8000/v1")
	f.StringVar(&o.ServedModel, "served-model", "", "vLLM: served model name")
	f.IntVar(&o.MaxTokens, "max-tokens", 2048, "maximum tokens per response")
	f.Float64Var(&o.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.Uint64Var(&o.Seed, "seed", 0, "embedded: sampling seed")
	f.IntVar(&o.Concurrency, "concurrency", 8, "vLLM: conversations in flight")
	f.IntVar(&o.MaxSamples, "max-samples", 0, "regenerate the first N conversations (0: all)")
	f.IntVar(&o.MaxRetries, "max-retries", 3, "vLLM: retries of a failed request")
	f.Float64Var(&timeout, "request-timeout", 600, "vLLM: seconds per request")
	return cmd
}
