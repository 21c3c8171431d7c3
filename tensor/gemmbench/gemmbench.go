// Package gemmbench measures SGEMM implementations side by side: the Go
// GEMM of package tensor (each of its kernels), OpenBLAS (when built with
// -tags openblas) and gonum. Measurements of different implementations are
// interleaved shape by shape, so that load from other processes on a shared
// machine hits them alike and their ratios stay meaningful.
package gemmbench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/speculators-go/speculators/tensor"
	"github.com/speculators-go/speculators/tensor/openblas"
)

// Impl is one SGEMM implementation under test.
type Impl struct {
	Name string
	Fn   tensor.SgemmFunc
	// Settle is how long to wait after measuring it: OpenBLAS's pthreads
	// spin for a while after each call and would steal the next one's cores.
	Settle time.Duration
}

// ImplNames lists the names Impls accepts in this build.
func ImplNames() []string {
	names := []string{"go"}
	for _, k := range tensor.GemmKernelNames() {
		names = append(names, "go-"+k)
	}
	if openblas.Available {
		names = append(names, "openblas")
	}
	return append(names, "gonum")
}

// Impls resolves names: "go" (Sgemm as shipped), "go-<kernel>" (Sgemm forced
// onto one micro-kernel), "openblas" (needs -tags openblas) and "gonum".
func Impls(names []string) ([]Impl, error) {
	var out []Impl
	for _, name := range names {
		switch {
		case name == "go":
			out = append(out, Impl{Name: name, Fn: tensor.Sgemm})
		case strings.HasPrefix(name, "go-"):
			fn, ok := tensor.SgemmWithKernel(strings.TrimPrefix(name, "go-"))
			if !ok {
				return nil, fmt.Errorf("gemmbench: no kernel %q in this build/CPU (have %s)", name, strings.Join(ImplNames(), ", "))
			}
			out = append(out, Impl{Name: name, Fn: fn})
		case name == "openblas":
			if !openblas.Available {
				return nil, fmt.Errorf("gemmbench: impl openblas needs a build with -tags openblas (cgo and libopenblas-dev)")
			}
			out = append(out, Impl{Name: name, Fn: openblas.Sgemm, Settle: 300 * time.Millisecond})
		case name == "gonum":
			out = append(out, Impl{Name: name, Fn: gonumSgemm})
		default:
			return nil, fmt.Errorf("gemmbench: unknown impl %q (have %s)", name, strings.Join(ImplNames(), ", "))
		}
	}
	return out, nil
}

func gonumSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Result is one measurement. Its JSON form is the line `speculators bench
// gemm --json` prints.
type Result struct {
	Impl   string  `json:"impl"`
	Shape  string  `json:"shape"`
	Trans  string  `json:"trans"`
	M      int     `json:"m"`
	N      int     `json:"n"`
	K      int     `json:"k"`
	GFlops float64 `json:"gflops"`
	// GFlopsCPU is the speed per thread had each of Threads threads a core
	// to itself: flops / (process CPU time / Threads). On a shared, loaded
	// machine it is steadier than the wall-clock GFlops (exact for one
	// thread; spinning worker threads count against their library).
	GFlopsCPU float64 `json:"gflops_cpu"`
	Threads   int     `json:"threads"`
	Run       int     `json:"run"`
}

// Options says what to measure.
type Options struct {
	Shapes  []tensor.GemmShape
	Impls   []Impl
	Runs    int           // measurements per implementation and shape
	MinTime time.Duration // each measurement repeats the call for at least this long
	Threads int           // threads every implementation uses (for GFlopsCPU)
}

func trans(s tensor.GemmShape) string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return t(s.TransA) + t(s.TransB)
}

// Run measures every shape with every implementation, interleaved (run r
// measures each implementation once, in an order rotated by r), and calls
// emit with each result as it comes.
func Run(opt Options, emit func(Result)) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range opt.Shapes {
		na, lda, nb, ldb, nc, ldc := sh.Lens()
		a, b, c := make([]float32, na), make([]float32, nb), make([]float32, nc)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		for run := 0; run < max(opt.Runs, 1); run++ {
			for x := range opt.Impls {
				im := opt.Impls[(x+run)%len(opt.Impls)]
				call := func() { im.Fn(sh.TransA, sh.TransB, sh.M, sh.N, sh.K, 1, a, lda, b, ldb, 0, c, ldc) }
				call() // warm caches, pools and threads
				calls := 0
				cpu0, start := processCPU(), time.Now()
				for calls < 2 || time.Since(start) < opt.MinTime {
					call()
					calls++
				}
				el, cpu := time.Since(start), processCPU()-cpu0
				threads := max(opt.Threads, 1)
				res := Result{Impl: im.Name, Shape: sh.Name, Trans: trans(sh), M: sh.M, N: sh.N, K: sh.K,
					GFlops: sh.Flops() * float64(calls) / el.Seconds() / 1e9, Threads: threads, Run: run}
				if cpu > 0 {
					res.GFlopsCPU = sh.Flops() * float64(calls) / (cpu / float64(threads)) / 1e9
				}
				emit(res)
				if im.Settle > 0 {
					time.Sleep(im.Settle)
				}
			}
		}
	}
}

// Median is the median GFLOP/s (wall clock and CPU time) of the results of
// one implementation and shape.
type Median struct {
	Impl, Shape       string
	GFlops, GFlopsCPU float64
	Runs              int
}

// Medians groups results by (shape, implementation), in first-seen order.
func Medians(results []Result) []Median {
	type key struct{ impl, shape string }
	var order []key
	vals := map[key][]float64{}
	cpus := map[key][]float64{}
	for _, r := range results {
		k := key{r.Impl, r.Shape}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = append(vals[k], r.GFlops)
		cpus[k] = append(cpus[k], r.GFlopsCPU)
	}
	var out []Median
	for _, k := range order {
		out = append(out, Median{Impl: k.impl, Shape: k.shape, GFlops: MedianOf(vals[k]), GFlopsCPU: MedianOf(cpus[k]), Runs: len(vals[k])})
	}
	return out
}

// MedianOf returns the median of v (0 for none).
func MedianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
