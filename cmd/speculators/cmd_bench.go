package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/tensor"
	"github.com/speculators-go/speculators/tensor/gemmbench"
	"github.com/speculators-go/speculators/tensor/openblas"
)

func init() { commands = append(commands, newBenchCmd) }

// benchSubcommands holds the constructors of `speculators bench` children;
// each cmd_bench_*.go file appends its own in an init function.
var benchSubcommands = []func() *cobra.Command{newBenchGemmCmd, newBenchPeakCmd}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the compute core (GEMM, FMA peak, training step)",
		Long: `bench measures the speed of the compute core on this machine.
Run scripts/bench_gemm.sh for the side-by-side GEMM table.`,
		Args: cobra.NoArgs,
	}
	for _, f := range benchSubcommands {
		cmd.AddCommand(f())
	}
	return cmd
}

func newBenchGemmCmd() *cobra.Command {
	var (
		sizes   []int
		impls   []string
		eagle3  bool
		runs    int
		minTime time.Duration
		threads int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "gemm",
		Short: "Measure SGEMM GFLOP/s of our GEMM, OpenBLAS and gonum side by side",
		Long: `gemm times C = A·B (float32, row-major) for square sizes (--size) and,
with --eagle3, for the GEMM shapes of one EAGLE-3 training step (hidden 512,
seq 512, 8 heads, MLP 1536, vocab 8192; forward and backward forms).

Implementations (--impl, comma-separated): go (Sgemm as shipped), go-<kernel>
(forced onto one micro-kernel: ` + strings.Join(tensor.GemmKernelNames(), ", ") + `),
openblas (only in builds with -tags openblas) and gonum. Implementations are
measured interleaved, --runs times each per shape, each measurement repeating
the product for at least --min-time; the table shows medians and the ratio to
the first implementation, by wall clock and by CPU time (flops per CPU-second
per thread: steadier when other processes share the cores).
With --json, one object per measurement and line:
{"impl":..,"shape":..,"trans":..,"m":..,"n":..,"k":..,"gflops":..,"gflops_cpu":..,"threads":..,"run":..}.

OpenBLAS may not recognise a virtualized CPU and fall back to SSE3 kernels
("Prescott"); set OPENBLAS_CORETYPE=SkylakeX for its AVX-512 kernels.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ims, err := gemmbench.Impls(impls)
			if err != nil {
				return &usageError{err}
			}
			if threads > 0 {
				runtime.GOMAXPROCS(threads)
			}
			if openblas.Available {
				openblas.SetThreads(runtime.GOMAXPROCS(0))
				if slices.Contains(impls, "openblas") {
					fmt.Fprintf(cmd.ErrOrStderr(), "bench gemm: OpenBLAS kernels: %s\n", openblas.CoreName())
					if openblas.CoreName() == "Prescott" {
						fmt.Fprintln(cmd.ErrOrStderr(), "bench gemm: warning: OpenBLAS fell back to its SSE3 kernels; run with OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2)")
					}
				}
			}
			var shapes []tensor.GemmShape
			for _, n := range sizes {
				if n < 1 || n > 16384 {
					return &usageError{fmt.Errorf("--size %d: want 1..16384", n)}
				}
				shapes = append(shapes, tensor.SquareGemm(n))
			}
			if eagle3 {
				shapes = append(shapes, tensor.Eagle3StepGemms...)
			}
			out := cmd.OutOrStdout()
			var results []gemmbench.Result
			enc := json.NewEncoder(out)
			var emitErr error
			gemmbench.Run(gemmbench.Options{Shapes: shapes, Impls: ims, Runs: runs, MinTime: minTime, Threads: runtime.GOMAXPROCS(0)}, func(r gemmbench.Result) {
				results = append(results, r)
				if asJSON {
					if err := enc.Encode(r); err != nil && emitErr == nil {
						emitErr = err
					}
					return
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "bench gemm: %-12s %-12s run %d: %7.1f GFLOP/s (%.1f by CPU time)\n", r.Impl, r.Shape, r.Run, r.GFlops, r.GFlopsCPU)
			})
			if emitErr != nil {
				return emitErr
			}
			if !asJSON {
				printGemmTable(out, shapes, ims, gemmbench.Medians(results))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&sizes, "size", []int{1024}, "square sizes N (N×N×N), comma-separated")
	f.StringSliceVar(&impls, "impl", []string{"go"}, "implementations, comma-separated: "+strings.Join(gemmbench.ImplNames(), ", "))
	f.BoolVar(&eagle3, "eagle3", false, "also measure the GEMM shapes of one EAGLE-3 training step")
	f.IntVar(&runs, "runs", 3, "measurements per implementation and shape")
	f.DurationVar(&minTime, "min-time", 300*time.Millisecond, "minimum duration of one measurement")
	f.IntVar(&threads, "threads", 0, "threads for every implementation (0: GOMAXPROCS)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per measurement")
	return cmd
}

// printGemmTable prints median GFLOP/s per shape, one column per
// implementation, and each one's ratio to the first.
func printGemmTable(w io.Writer, shapes []tensor.GemmShape, ims []gemmbench.Impl, meds []gemmbench.Median) {
	get := map[[2]string]float64{}
	cpu := map[[2]string]float64{}
	for _, m := range meds {
		get[[2]string{m.Impl, m.Shape}] = m.GFlops
		cpu[[2]string{m.Impl, m.Shape}] = m.GFlopsCPU
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "shape\ttrans\tm\tn\tk\t")
	for _, im := range ims {
		fmt.Fprintf(tw, "%s GFLOP/s\t", im.Name)
	}
	for _, im := range ims[1:] {
		fmt.Fprintf(tw, "%s/%s\t", ims[0].Name, im.Name)
	}
	for _, im := range ims {
		fmt.Fprintf(tw, "%s cpu\t", im.Name)
	}
	for _, im := range ims[1:] {
		fmt.Fprintf(tw, "cpu %s/%s\t", ims[0].Name, im.Name)
	}
	fmt.Fprintln(tw)
	for _, sh := range shapes {
		t := "N"
		if sh.TransA {
			t = "T"
		}
		if sh.TransB {
			t += "T"
		} else {
			t += "N"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t", sh.Name, t, sh.M, sh.N, sh.K)
		for _, im := range ims {
			fmt.Fprintf(tw, "%.1f\t", get[[2]string{im.Name, sh.Name}])
		}
		base := get[[2]string{ims[0].Name, sh.Name}]
		for _, im := range ims[1:] {
			fmt.Fprintf(tw, "%.2f\t", base/get[[2]string{im.Name, sh.Name}])
		}
		for _, im := range ims {
			fmt.Fprintf(tw, "%.1f\t", cpu[[2]string{im.Name, sh.Name}])
		}
		base = cpu[[2]string{ims[0].Name, sh.Name}]
		for _, im := range ims[1:] {
			fmt.Fprintf(tw, "%.2f\t", base/cpu[[2]string{im.Name, sh.Name}])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func newBenchPeakCmd() *cobra.Command {
	var (
		dur    time.Duration
		runs   int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "peak",
		Short: "Measure the machine's fp32 FMA peak (GFLOP/s per core and for all cores)",
		Long: `peak times a loop of independent VFMADD231PS accumulators (24 zmm with
AVX-512, else 12 ymm with AVX2), first on one goroutine, then on GOMAXPROCS
goroutines at once, --runs times, and prints the medians, by wall clock and
by the CPU time the threads got (the core's own speed when other processes
share it). It is the ceiling the SGEMM figures are judged against.
With --json it prints one object per run:
{"isa":..,"gflops_per_core":..,"gflops_per_core_cpu":..,"gflops":..,"gflops_cpu":..,"workers":..}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			var one, oneCPU, all, allCPU []float64
			var p gemmbench.Peak
			for r := 0; r < max(runs, 1); r++ {
				var err error
				p, err = gemmbench.MeasurePeak(runtime.GOMAXPROCS(0), dur)
				if err != nil {
					return err
				}
				one, oneCPU = append(one, p.PerCore), append(oneCPU, p.PerCoreCPU)
				all, allCPU = append(all, p.Total), append(allCPU, p.TotalCPU)
				if asJSON {
					if err := enc.Encode(p); err != nil {
						return err
					}
				}
			}
			if !asJSON {
				m := gemmbench.MedianOf
				fmt.Fprintf(out, "fp32 FMA peak (%s), medians of %d: %.1f GFLOP/s per core (%.1f by CPU time), %.1f GFLOP/s on %d cores (%.1f by CPU time)\n",
					p.ISA, len(one), m(one), m(oneCPU), m(all), p.Workers, m(allCPU))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&dur, "time", 300*time.Millisecond, "duration of one timing")
	f.IntVar(&runs, "runs", 3, "timings")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per run")
	return cmd
}
