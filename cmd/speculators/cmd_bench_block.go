package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/internal/blockbench"
	"github.com/speculators-go/speculators/tensor"
)

// newBenchBlockCmd is `speculators bench block`: one full training step of a
// Llama decoder block with a linear head (forward, cross-entropy, backward,
// clipping, AdamW), timed; the workload of go-stack.md §3.
func newBenchBlockCmd() *cobra.Command {
	c := blockbench.DefaultConfig()
	var steps, warmup, threads int
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "block",
		Short: "Time one training step of a Llama decoder block (tokens/s)",
		Long: `block trains one Llama decoder block (RMSNorm, q/k/v/o projections, RoPE,
causal attention, RMSNorm, SiLU-gated MLP, residuals) plus a final RMSNorm and
a linear head with cross-entropy, global-norm clipping to 1.0 and AdamW, on
random data, and prints the median step time and tokens per second after
--warmup untimed steps. testdata/bench/bench_block.py is the same workload in
PyTorch; scripts/bench_block.sh runs both side by side.

With --json it prints one object: {"tokens_per_s":..,"step_ms":..,"step_cpu_ms":..};
step_cpu_ms is the median CPU time of a step summed over threads, steadier
than the wall clock when other processes share the cores.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if steps < 1 || warmup < 0 {
				return &usageError{fmt.Errorf("--steps must be ≥ 1 and --warmup ≥ 0")}
			}
			c.KVHeads = c.Heads
			if threads < 0 {
				return &usageError{fmt.Errorf("--threads must be ≥ 0")}
			}
			if threads > 0 {
				runtime.GOMAXPROCS(threads)
			}
			if err := c.Validate(); err != nil {
				return &usageError{err}
			}
			var log io.Writer
			if !quiet {
				log = cmd.ErrOrStderr()
			}
			res, err := blockbench.Run(c, steps, warmup, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.Marshal(res)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, string(b))
				return nil
			}
			fmt.Fprintf(out, "block train step: hidden %d seq %d heads %d mlp %d vocab %d, %d threads, gemm %s\n",
				c.Hidden, c.Seq, c.Heads, c.MLP, c.Vocab, runtime.GOMAXPROCS(0), tensor.GemmKernelName())
			fmt.Fprintf(out, "median of %d steps: %.1f ms/step, %.0f tokens/s (%.1f ms CPU time per step)\n", steps, res.StepMS, res.TokensPerS, res.StepCPUMS)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.Hidden, "hidden", c.Hidden, "hidden size")
	f.IntVar(&c.Seq, "seq", c.Seq, "sequence length (tokens per step)")
	f.IntVar(&c.Heads, "heads", c.Heads, "attention heads (head dim = hidden/heads)")
	f.IntVar(&c.MLP, "mlp", c.MLP, "MLP intermediate size")
	f.IntVar(&c.Vocab, "vocab", c.Vocab, "classes of the linear head")
	f.IntVar(&steps, "steps", 10, "timed steps")
	f.IntVar(&warmup, "warmup", 2, "untimed steps first")
	f.IntVar(&threads, "threads", 0, "goroutines for the kernels (0: GOMAXPROCS)")
	f.BoolVar(&asJSON, "json", false, `print {"tokens_per_s":..,"step_ms":..}`)
	f.BoolVar(&quiet, "quiet", false, "no per-step progress lines on stderr")
	return cmd
}

func init() { benchSubcommands = append(benchSubcommands, newBenchBlockCmd) }
