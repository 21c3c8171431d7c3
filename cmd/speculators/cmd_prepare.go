package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/dataset"
)

func init() { commands = append(commands, newPrepareCmd) }

func newPrepareCmd() *cobra.Command {
	var (
		o      dataset.Options
		kwargs string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "prepare --model DIR --data SOURCE [--data SOURCE ...] --output OUT",
		Short: "Tokenize conversations into training rows with assistant loss masks",
		Long: `prepare turns conversations into the training rows of a speculator, as
speculators' prepare_data.py does: input_ids, a loss_mask that is 1 on the
assistant tokens the verifier would generate, and seq_len.

SOURCE is a .json, .jsonl, .parquet or .arrow (Arrow IPC stream, as Hugging
Face datasets writes) file, a folder of them (searched recursively; a
save_to_disk folder works), or name[:split] / name:subset:split of a dataset
already in the local Hugging Face hub or datasets cache (nothing is
downloaded). Each row is detected on its own: ShareGPT
("conversations" of from/value turns), OpenAI/UltraChat ("messages" of
role/content turns, with tool_calls, reasoning_content and a "tools" column),
or rows already tokenized ("input_ids" and "loss_mask"), which pass through.

Each conversation is rendered with DIR's chat template and tokenizer (or by a
vLLM server with --render-endpoint) and yields one row per assistant turn:
the history as inference sees it (mask 0), then that turn's tokens through its
end-of-turn token (mask 1). Rows are clipped to --seq-length, rows with fewer
than --minimum-valid-tokens supervised tokens are dropped, and everything is
shuffled with --seed; --max-samples keeps that many rows.

OUT receives data-*.parquet (input_ids, loss_mask, seq_len; readable by
pyarrow, pandas and Hugging Face datasets), token_freq.pt (supervised token
counts, for "speculators vocab" and speculators' train.py) and metadata.json
(sources with hashes, tokenizer hash, template, counts, drop reasons), written
last. A complete OUT is left alone unless --overwrite is given.

Rows that cannot be read or conversations that yield nothing are counted by
reason with their file and line; --strict makes any of them fatal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Model == "" || len(o.Sources) == 0 || o.Output == "" {
				return &usageError{errors.New("prepare: --model, --data and --output are required")}
			}
			if o.SeqLength <= 0 || o.MaxSamples < 0 || o.MinValidTokens < 0 || o.Workers < 0 {
				return &usageError{errors.New("prepare: --seq-length must be positive; --max-samples, --minimum-valid-tokens and --num-workers must not be negative")}
			}
			if kwargs != "" {
				if err := json.Unmarshal([]byte(kwargs), &o.TemplateKwargs); err != nil {
					return &usageError{fmt.Errorf("prepare: --chat-template-kwargs must be a JSON object: %w", err)}
				}
			}
			stderr := cmd.ErrOrStderr()
			if !quiet {
				o.Log = func(msg string) { fmt.Fprintf(stderr, "%s %s\n", time.Now().Format("15:04:05"), msg) }
			}
			sum, err := dataset.Prepare(cmd.Context(), o)
			if err != nil {
				return err
			}
			printSummary(cmd.OutOrStdout(), sum)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Model, "model", "", "verifier model directory (tokenizer.json, tokenizer_config.json, chat template)")
	f.StringArrayVar(&o.Sources, "data", nil, "data source: file, folder or name[:split] (repeatable)")
	f.StringVar(&o.Output, "output", "", "output folder")
	f.IntVar(&o.SeqLength, "seq-length", 8192, "maximum tokens per row")
	f.IntVar(&o.MaxSamples, "max-samples", 0, "keep at most this many rows (0: all)")
	f.Uint64Var(&o.Seed, "seed", 0, "shuffle seed")
	f.IntVar(&o.MinValidTokens, "minimum-valid-tokens", 0, "drop rows with fewer supervised tokens (0: keep all with any)")
	f.StringVar(&o.RenderEndpoint, "render-endpoint", "", "render with a vLLM server (base URL without /v1) instead of locally")
	f.StringVar(&kwargs, "chat-template-kwargs", "", `extra chat template variables as JSON, e.g. '{"enable_thinking": false}'`)
	f.IntVar(&o.Workers, "num-workers", 0, "conversations rendered in parallel (0: all cores)")
	f.BoolVar(&o.Overwrite, "overwrite", false, "rebuild a complete output folder")
	f.BoolVar(&o.Strict, "strict", false, "fail on the first unreadable row or failed conversation")
	f.BoolVar(&quiet, "quiet", false, "no progress lines")
	return cmd
}

func printSummary(w io.Writer, s *dataset.Summary) {
	if s.Skipped {
		fmt.Fprintf(w, "output already complete; nothing done (use --overwrite to rebuild)\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	c := s.Counts
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\t\n", k, v) }
	row("rows in", c.RowsRead)
	row("conversations rendered", c.Conversations)
	row("pre-tokenized rows", c.Pretokenized)
	row("training rows built", c.RowsBuilt)
	row("rows out", c.RowsOut)
	row("rows clipped at seq-length", c.Clipped)
	row("tokens", c.Tokens)
	row("supervised tokens", c.SupervisedTokens)
	row("distinct supervised tokens", c.DistinctTokens)
	reasons := make([]string, 0, len(s.DropReasons))
	for r := range s.DropReasons {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		row("dropped: "+r, s.DropReasons[r])
	}
	tw.Flush()
	for _, r := range reasons {
		for _, ex := range s.DropExamples[r] {
			fmt.Fprintf(w, "  %s: %s\n", r, strings.TrimSpace(ex))
		}
	}
	if !s.Skipped {
		fmt.Fprintf(w, "wrote %d Parquet file(s), token_freq.pt and metadata.json in %.1fs\n", len(s.Shards), s.Seconds)
	}
}
