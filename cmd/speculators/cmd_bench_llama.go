package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/tensor"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchLlamaCmd) }

func newBenchLlamaCmd() *cobra.Command {
	var (
		model, makeModel  string
		prompt, gen, runs int
		asJSON, f32       bool
	)
	cmd := &cobra.Command{
		Use:   "llama (--model DIR | --make-model DIR)",
		Short: "Measure prefill and decode tokens/s of the embedded runtime",
		Long: `llama times the embedded verifier runtime on a model directory: a prefill of
--prompt random token ids, then --gen greedy single-token decode steps, --runs
times after one warm-up run, and prints the medians. It also measures the
machine's copy bandwidth (STREAM-style: bytes read plus bytes written per
second, GOMAXPROCS goroutines) and states the decode's weight-streaming
bandwidth as a fraction of it.

--make-model DIR writes the ~100M-parameter Llama-shaped random checkpoint
used by scripts/bench_llama.sh into DIR and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if makeModel != "" {
				return testmodel.Write(makeModel, testmodel.Bench100M())
			}
			if model == "" || prompt < 1 || gen < 2 || runs < 1 {
				return &usageError{errors.New("bench llama: need --model (or --make-model), --prompt ≥ 1, --gen ≥ 2, --runs ≥ 1")}
			}
			m, err := llama.LoadWith(model, llama.LoadOptions{Float32: f32})
			if err != nil {
				return err
			}
			r := rand.New(rand.NewPCG(1, 2))
			ids := make([]int32, prompt)
			for i := range ids {
				ids[i] = int32(r.IntN(m.V()))
			}
			smp, _ := sample.New(sample.Params{})
			var pre, dec []float64
			st := m.NewState(1)
			for i := 0; i <= runs; i++ {
				st.Reset()
				_, stats, err := llama.Generate(st, ids, llama.GenerateOptions{MaxTokens: gen, Sampler: smp})
				if err != nil {
					return err
				}
				if i > 0 { // run 0 warms up
					pre = append(pre, stats.PrefillTokensPerSecond())
					dec = append(dec, stats.DecodeTokensPerSecond())
				}
			}
			copyBW, readBW := copyBandwidth(), readBandwidth()
			params := m.NumParams()
			// Bytes a decode step streams: every weight once as held (bf16
			// Linear weights of bf16 checkpoints at 2 bytes), plus
			// the key/value cache read by attention at the mean length.
			c := m.Config
			kv := int64(2*c.NumHiddenLayers*c.KVHeads*c.HeadDim*4) * int64(prompt+gen/2)
			stepBytes := m.WeightBytes() + kv
			res := map[string]any{
				"params": params, "prompt_tokens": prompt, "decode_tokens": gen - 1, "runs": runs,
				"prefill_tokens_per_s": median(pre), "decode_tokens_per_s": median(dec),
				"decode_bytes_per_token": stepBytes,
				"decode_gb_per_s":        median(dec) * float64(stepBytes) / 1e9,
				"copy_gb_per_s":          copyBW / 1e9,
				"read_gb_per_s":          readBW / 1e9,
				"gemm_kernel":            tensor.GemmKernelName(),
				"threads":                tensor.Workers(),
			}
			res["decode_bandwidth_fraction"] = res["decode_gb_per_s"].(float64) / res["copy_gb_per_s"].(float64)
			res["decode_read_fraction"] = res["decode_gb_per_s"].(float64) / res["read_gb_per_s"].(float64)
			w := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.Marshal(res)
				fmt.Fprintln(w, string(b))
				return nil
			}
			fmt.Fprintf(w, "model %s: %.1fM parameters, %d threads, GEMM kernel %s\n", model, float64(params)/1e6, tensor.Workers(), tensor.GemmKernelName())
			fmt.Fprintf(w, "prefill %d tokens: %.1f tokens/s (median of %d)\n", prompt, median(pre), runs)
			fmt.Fprintf(w, "decode %d tokens: %.2f tokens/s, %.2f GB/s of weights and cache = %.0f%% of copy bandwidth %.2f GB/s (read+write), %.0f%% of streaming-read bandwidth %.2f GB/s\n",
				gen-1, median(dec), res["decode_gb_per_s"], 100*res["decode_bandwidth_fraction"].(float64), copyBW/1e9,
				100*res["decode_read_fraction"].(float64), readBW/1e9)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "model directory")
	f.StringVar(&makeModel, "make-model", "", "write the ~100M-parameter benchmark checkpoint here and exit")
	f.IntVar(&prompt, "prompt", 128, "prompt tokens (prefill)")
	f.IntVar(&gen, "gen", 64, "generated tokens (the first comes from the prefill)")
	f.IntVar(&runs, "runs", 3, "measured runs (after one warm-up)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.BoolVar(&f32, "f32", false, "widen bf16 weights to float32 at load (as the PyTorch baseline holds them)")
	return cmd
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// readBandwidth measures bytes read per second by the decode kernel
// itself (tensor.LinearRowsForward, one row) over a 1 GiB matrix, far
// larger than any cache: the ceiling for weight streaming (best of 10,
// as STREAM reports).
func readBandwidth() float64 {
	const in, out = 4096, 65536 // 256M float32s
	w := make([]float32, in*out)
	for i := range w {
		w[i] = float32(i & 1023)
	}
	x, y := make([]float32, in), make([]float32, out)
	var bw []float64
	for rep := 0; rep < 11; rep++ {
		t := time.Now()
		tensor.LinearRowsForward(y, x, w, nil, 1, in, out)
		if rep > 0 {
			bw = append(bw, 4*in*out/time.Since(t).Seconds())
		}
	}
	return slices.Max(bw)
}

// copyBandwidth measures bytes read plus written per second when
// tensor.Workers() goroutines copy disjoint parts of a 512 MiB buffer
// (best of 10, as STREAM reports).
func copyBandwidth() float64 {
	const n = 128 << 20 // float32s: 512 MiB per buffer
	src, dst := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = float32(i)
	}
	var bw []float64
	for rep := 0; rep < 11; rep++ {
		t := time.Now()
		tensor.ParallelFor(n, n/tensor.Workers(), func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
		if rep > 0 {
			bw = append(bw, 2*4*n/time.Since(t).Seconds())
		}
	}
	return slices.Max(bw)
}
