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

func init() { commands = append(commands, newDatagenCmd) }

func newDatagenCmd() *cobra.Command {
	var (
		o              datagen.Options
		layers         string
		requestTimeout float64
	)
	cmd := &cobra.Command{
		Use:   "datagen --preprocessed-data PREP --output OUT (--model DIR | --endpoint URL [--model-name NAME])",
		Short: "Write the verifier's hidden states for every prepared row (embedded runtime or vLLM)",
		Long: `Capture the verifier's hidden states for each row of a prepared dataset
(speculators prepare, or prepare_data.py's Arrow shards) and write row i as
OUT/hs_{i}.safetensors:
  hidden_states  [seq, A+1, H] BF16   the aux layers in id order, then the last layer
  token_ids      [seq] I64            the row's input_ids
the layout of speculators' data_generation_offline.py, so either tool's files
train in either trainer.

With --model the embedded runtime runs batched prefills on the CPU
(--batch-tokens tokens per pass). The packing depends only on the rank's rows
and these two flags, so a resumed run writes bit-identical files when they
are unchanged. With --endpoint it drives a vLLM server
started by "speculators launch-vllm": one Completions request per row with the
token ids as the prompt and max_tokens 1; the server's connector writes the
file, which is checked and moved into OUT. Up to --concurrency requests are in
flight; a failed request is retried --max-retries times (2 s, 4 s, 8 s ...),
and the run stops after --max-consecutive-errors failed rows in a row.

Layer ids (default 2, N/2, N-3) follow vLLM's convention: id k is the
residual stream entering layer k; the last layer N is always captured last.

--world-size W --rank R gives this process rows i with i mod W = R, so W
machines split a dataset. Re-running resumes: complete, valid files are kept
(checked against the manifest's checksums and the row's tokens), partial or
corrupt ones are redone; every file is written to a temporary name and
renamed. OUT/manifest.json (manifest.rank-R-of-W.json with several ranks)
records the layer ids, verifier, dtype, row count and each file's sha256.

Progress lines give tokens/s and ETA; the summary gives bytes per token.
Exit code 1 when any row failed (re-run to retry them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Prepared == "" && o.Output == "" {
				return &usageError{errors.New("datagen: need --preprocessed-data")}
			}
			if (o.Model == "") == (o.Endpoint == "") {
				return &usageError{errors.New("datagen: need exactly one of --model (embedded) and --endpoint (vLLM)")}
			}
			if layers != "" {
				ls, err := parseInts(layers)
				if err != nil {
					return &usageError{fmt.Errorf("datagen: --layers: %w", err)}
				}
				o.Layers = ls
			}
			if o.WorldSize < 1 || o.Rank < 0 || o.Rank >= o.WorldSize {
				return &usageError{fmt.Errorf("datagen: --rank %d must be in [0, --world-size %d)", o.Rank, o.WorldSize)}
			}
			o.RequestTimeout = time.Duration(requestTimeout * float64(time.Second))
			if o.MaxRetries == 0 {
				o.MaxRetries = -1 // datagen.Options uses 0 for the default
			}
			errw := cmd.ErrOrStderr()
			o.Log = func(s string) { fmt.Fprintln(errw, s) }
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := datagen.Run(ctx, o)
			if err != nil {
				return err
			}
			if len(sum.Failed) > 0 || sum.Aborted != "" {
				return &exitError{code: 1, err: fmt.Errorf("datagen: %d rows failed%s; re-run to retry them", len(sum.Failed), abortNote(sum.Aborted))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Prepared, "preprocessed-data", "", "prepared dataset folder")
	f.StringVar(&o.Output, "output", "", "output folder (default PREP/hidden_states)")
	f.StringVar(&o.Model, "model", "", "embedded: verifier model directory")
	f.StringVar(&o.Endpoint, "endpoint", "", "vLLM: base URL, e.g. http://localhost:8000/v1")
	f.StringVar(&o.ModelName, "model-name", "", "vLLM: served model name (default: the first of GET /models)")
	f.StringVar(&layers, "layers", "", "comma-separated aux layer ids (default 2, N/2, N-3)")
	f.IntVar(&o.LastLayer, "num-layers", 0, "vLLM: the verifier's layer count N, recorded in the manifest")
	f.IntVar(&o.Concurrency, "concurrency", 32, "vLLM: requests in flight")
	f.IntVar(&o.MaxSamples, "max-samples", 0, "use the first N rows (0: all)")
	f.IntVar(&o.WorldSize, "world-size", 1, "number of processes sharing the rows")
	f.IntVar(&o.Rank, "rank", 0, "this process's rank: rows i with i mod world-size = rank")
	f.BoolVar(&o.Validate, "validate-outputs", false, "check that every value written is finite")
	f.Float64Var(&requestTimeout, "request-timeout", 120, "vLLM: seconds per request attempt")
	f.IntVar(&o.MaxRetries, "max-retries", 3, "vLLM: retries of a failed request")
	f.IntVar(&o.MaxConsecutiveErrors, "max-consecutive-errors", 0, "stop after this many failed rows in a row (default: --concurrency)")
	f.BoolVar(&o.FailOnError, "fail-on-error", false, "stop at the first failed row")
	f.IntVar(&o.BatchTokens, "batch-tokens", 2048, "embedded: tokens per forward pass")
	f.IntVar(&o.BatchRows, "batch-rows", 32, "embedded: rows per forward pass")
	return cmd
}

func abortNote(s string) string {
	if s == "" {
		return ""
	}
	return " (stopped: " + s + ")"
}
