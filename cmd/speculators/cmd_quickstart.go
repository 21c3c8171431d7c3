package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/quickstart"
)

func init() { commands = append(commands, newQuickstartCmd) }

func newQuickstartCmd() *cobra.Command {
	o := quickstart.Defaults()
	cmd := &cobra.Command{
		Use:   "quickstart [--output-path DIR] [--verifier DIR]",
		Short: "Run the whole pipeline on the bundled verifier: data, hidden states, vocab, EAGLE-3 training, validation, eval",
		Long: `Train and evaluate an EAGLE-3 draft end to end on a local verifier (by
default the bundled models/fortune-llama), in a few minutes on a CPU:

  1 prompts        built-in prompts in the verifier's domain, split into
                   training and held-out prompts
  2 regenerate     the verifier's own responses (greedy, plus sampled ones)
  3 prepare        training rows with assistant loss masks, token_freq.pt
  4 hidden_states  verifier hidden states hs_{i}.safetensors
  5 vocab          draft vocabulary (d2t.npy, t2d.npy), smaller than the verifier's
  6 train          EAGLE-3 draft training, speculators-format checkpoints
  7 validate       the checkpoint against what vLLM and speculators expect
  8 eval           speculative decoding on the held-out prompts, greedy at each
                   k and at temperature 1, timed against plain decoding

and print τ per k, per-position acceptance, the measured speedup, where the
checkpoint is and the vllm serve command for a real-model equivalent.

Each stage writes under --output-path/<stage> and records completion in
<stage>/stage.json; re-running skips completed stages and resumes a
partial one. Delete a stage's folder (and the ones after it) to redo it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output == "" || o.Verifier == "" {
				return &usageError{errors.New("quickstart: --output-path and --verifier must not be empty")}
			}
			o.Log = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := quickstart.Run(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return &exitError{code: 130, err: fmt.Errorf("quickstart: interrupted; re-run to resume: %w", err)}
				}
				return err
			}
			res.WriteSummary(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Output, "output-path", o.Output, "working folder for every stage's output")
	f.StringVar(&o.Verifier, "verifier", o.Verifier, "verifier model directory (Hugging Face layout, Llama architecture)")
	f.IntVar(&o.SampledPerTurn, "sampled-responses", o.SampledPerTurn, "sampled responses per training prompt, besides the greedy one")
	f.IntVar(&o.MaxTokens, "max-tokens", o.MaxTokens, "tokens per regenerated response")
	f.IntVar(&o.DraftVocabSize, "draft-vocab-size", o.DraftVocabSize, "draft vocabulary size")
	f.IntVar(&o.Epochs, "epochs", o.Epochs, "training epochs")
	f.IntVar(&o.EvalMaxTokens, "eval-max-tokens", o.EvalMaxTokens, "new tokens per held-out prompt in eval")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed for sampling, shuffles and initialisation")
	return cmd
}
