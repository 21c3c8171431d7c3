package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// gemmCase is one Sgemm call shape; ld* extra are added to the minimal
// leading dimensions.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int
	padC           int
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_pad%d.%d.%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// runGemmCase checks one kernel (threads workers) on tc against SgemmRef.
// The tolerance grows with sqrt(k): float32 rounding of a k-term dot
// product with unit-variance terms.
func runGemmCase(t *testing.T, kern *gemmKernel, threads int, tc gemmCase, r *rand.Rand) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.padA, bc+tc.padB, tc.n+tc.padC
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, max(tc.m*ldc, 1))
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want := append([]float32(nil), c...)
	got := append([]float32(nil), c...)
	SgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	sgemm(kern, threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
	tol := 1e-5 * (1 + float64(abs32(tc.alpha))*3*math.Sqrt(float64(tc.k))*4 + float64(abs32(tc.beta))*4)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			idx := i*ldc + j
			if j >= tc.n {
				// Padding columns must be untouched.
				if !(got[idx] == c[idx] || (math.IsNaN(float64(got[idx])) && math.IsNaN(float64(c[idx])))) {
					t.Fatalf("%s %v: padding C[%d,%d] changed: %g -> %g", kern.name, tc, i, j, c[idx], got[idx])
				}
				continue
			}
			d := math.Abs(float64(got[idx]) - float64(want[idx]))
			if !(d <= tol) {
				t.Fatalf("%s threads=%d %v: C[%d,%d] = %g, want %g (|diff| %g > tol %g)", kern.name, threads, tc, i, j, got[idx], want[idx], d, tol)
			}
		}
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

func TestSgemmKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var cases []gemmCase
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			// Odd sizes across and below every tile size.
			for _, s := range []int{1, 2, 3, 5, 7, 11, 13, 16, 17, 31, 33, 47, 64, 67} {
				cases = append(cases, gemmCase{ta, tb, s, s, s, 1, 0, 0, 0, 0})
			}
			cases = append(cases,
				gemmCase{ta, tb, 13, 35, 9, 1.5, 0.5, 3, 1, 2},
				gemmCase{ta, tb, 25, 67, 300, -0.75, 1, 7, 0, 5},
				gemmCase{ta, tb, 37, 19, 513, 1, -2, 0, 9, 1},
				gemmCase{ta, tb, 1, 100, 70, 2, 0, 0, 0, 0},
				gemmCase{ta, tb, 100, 1, 70, 1, 1, 0, 0, 0},
				gemmCase{ta, tb, 64, 64, 1, 1, 0, 1, 1, 1},
				gemmCase{ta, tb, 130, 97, 260, 0.5, 0, 4, 4, 4},
				gemmCase{ta, tb, 200, 270, 129, 1, 0.25, 0, 0, 0},
			)
		}
	}
	if testing.Short() {
		// Every shape still runs, on a third of the (transpose, size) mix.
		var short []gemmCase
		for i, tc := range cases {
			if i%3 == 0 || tc.m <= 17 {
				short = append(short, tc)
			}
		}
		cases = short
	}
	for _, kern := range gemmKernels() {
		for _, threads := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/threads%d", kern.name, threads), func(t *testing.T) {
				for _, tc := range cases {
					runGemmCase(t, kern, threads, tc, r)
				}
			})
		}
	}
}

// TestSgemmBlocking uses tiny cache blocks so that every loop of the
// blocked driver (several jc, pc and ic blocks, both split directions)
// runs on small matrices.
func TestSgemmBlocking(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, kern := range gemmKernels() {
		small := *kern
		small.mc, small.kc, small.nc, small.qc = 2*kern.mr, 7, 3*kern.nr, 2
		for _, threads := range []int{1, 2, 4} {
			for _, tc := range []gemmCase{
				{false, false, 5*kern.mr + 3, 7*kern.nr + 5, 40, 1, 0, 0, 0, 0},
				{true, true, 3, 9*kern.nr + 1, 33, 2, 1, 1, 2, 3},
				{true, false, 9*kern.mr + 1, 5, 19, 1, 0.5, 0, 0, 1},
				{false, true, 4 * kern.mr, 4 * kern.nr, 21, -1, 0, 2, 0, 0},
			} {
				// The serial cutoff would hide the parallel paths.
				runGemmCaseBig(t, &small, threads, tc, r)
			}
		}
	}
}

func runGemmCaseBig(t *testing.T, kern *gemmKernel, threads int, tc gemmCase, r *rand.Rand) {
	t.Helper()
	old := gemmSerialCutoff
	gemmSerialCutoff = 0
	defer func() { gemmSerialCutoff = old }()
	runGemmCase(t, kern, threads, tc, r)
}

// TestSgemmRandomShapes is a randomized sweep over shapes, transposes,
// strides and scalars on every kernel, with parallelism forced on.
func TestSgemmRandomShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 150
	if testing.Short() {
		n = 20
	}
	scal := []float32{0, 1, -1, 0.5, 3}
	for _, kern := range gemmKernels() {
		for i := 0; i < n; i++ {
			tc := gemmCase{
				transA: r.IntN(2) == 1, transB: r.IntN(2) == 1,
				m: 1 + r.IntN(90), n: 1 + r.IntN(90), k: r.IntN(300),
				alpha: scal[1+r.IntN(4)], beta: scal[r.IntN(5)],
				padA: r.IntN(3), padB: r.IntN(3), padC: r.IntN(3),
			}
			runGemmCaseBig(t, kern, 1+r.IntN(3), tc, r)
		}
	}
}

// TestSgemmPublic checks the exported entry point, including the k=0 and
// alpha=0 shortcuts and a large product split across goroutines.
func TestSgemmPublic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []gemmCase{
		{false, false, 300, 260, 280, 1, 0, 1, 2, 3},
		{true, true, 129, 511, 77, 1, 1, 0, 0, 0},
		{false, false, 4, 5, 0, 1, 0, 0, 0, 0},
		{false, false, 4, 5, 0, 1, 2, 0, 0, 1},
		{false, true, 4, 5, 6, 0, 0.5, 0, 0, 0},
		{false, true, 4, 5, 6, 0, 0, 0, 0, 0},
	} {
		runGemmCase(t, activeKernel(), 2, tc, r)
	}
	// Zero-size products touch nothing.
	Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	Sgemm(false, false, 5, 0, 3, 1, make([]float32, 15), 3, nil, 0, 0, nil, 0)
}

func TestSgemmPanicsOnShortSlices(t *testing.T) {
	for name, f := range map[string]func(){
		"shortA": func() {
			Sgemm(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
		},
		"shortB": func() {
			Sgemm(false, true, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 15), 4, 0, make([]float32, 16), 4)
		},
		"shortC": func() {
			Sgemm(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4)
		},
		"ldc": func() {
			Sgemm(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 16), 3)
		},
		"neg": func() { Sgemm(false, false, -1, 4, 4, 1, nil, 4, nil, 4, 0, nil, 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestGemmJobsSurviveGC: the packing buffers are kept across garbage
// collections (a sync.Pool would drop them, and a training loop that
// allocates elsewhere would reallocate megabytes per GEMM).
func TestGemmJobsSurviveGC(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	n := 200
	a, b, c := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
	Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
	gemmJobs.mu.Lock()
	if len(gemmJobs.items) == 0 {
		gemmJobs.mu.Unlock()
		t.Fatal("no job kept after Sgemm")
	}
	j := gemmJobs.items[len(gemmJobs.items)-1]
	bp := &j.bp[:1][0]
	gemmJobs.mu.Unlock()
	runtime.GC()
	runtime.GC()
	got := gemmJobs.get()
	defer gemmJobs.put(got)
	if got != j || &got.bp[:1][0] != bp {
		t.Error("the kept job or its B buffer did not survive two collections")
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n := 256
	a, b, c := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
	q, k, s := randSlice(r, 64*4*16), randSlice(r, 64*4*16), make([]float32, 4*64*64)
	gemm := func() { Sgemm(false, true, n, n, n, 1, a, n, b, n, 0, c, n) }
	batched := func() { SgemmStridedBatched(false, true, 64, 64, 16, 1, q, 64, 16, k, 64, 16, 0, s, 64, 64*64, 4) }
	// One worker (testing.AllocsPerRun sets GOMAXPROCS to 1): exactly none.
	gemm()
	batched()
	if got := testing.AllocsPerRun(10, gemm); got != 0 {
		t.Errorf("Sgemm (1 worker) allocates %v times per call", got)
	}
	if got := testing.AllocsPerRun(10, batched); got != 0 {
		t.Errorf("SgemmStridedBatched (1 worker) allocates %v times per call", got)
	}
	// Two workers: MemStats also counts the runtime's own background
	// allocations (timers, scavenger), so allow a fraction per call; an
	// allocation of ours would be at least one per call.
	defer setMaxProcs(2)()
	allocsPer := func(f func()) float64 {
		f()
		var m0, m1 runtime.MemStats
		const runs = 20
		runtime.ReadMemStats(&m0)
		for i := 0; i < runs; i++ {
			f()
		}
		runtime.ReadMemStats(&m1)
		return float64(m1.Mallocs-m0.Mallocs) / runs
	}
	if got := allocsPer(gemm); got >= 1 {
		t.Errorf("Sgemm (2 workers) allocates %v times per call", got)
	}
	if got := allocsPer(batched); got >= 1 {
		t.Errorf("SgemmStridedBatched (2 workers) allocates %v times per call", got)
	}
}

// setMaxProcs sets GOMAXPROCS and returns the function that restores it.
func setMaxProcs(n int) func() {
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}

// TestGemmKernelsListed makes sure the kernel tests above really ran the
// assembly kernels this CPU supports, rather than silently only the Go one.
func TestGemmKernelsListed(t *testing.T) {
	names := GemmKernelNames()
	t.Logf("kernels tested: %v; Sgemm uses %s", names, GemmKernelName())
	want := []string{"go"}
	if hasAsmKernels {
		if cpuHasAVX2FMA() {
			want = append(want, "avx2")
		}
		if cpuHasAVX512() {
			want = append(want, "avx512")
		}
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("GemmKernelNames() = %v, want %v", names, want)
	}
	if GemmKernelName() != want[len(want)-1] {
		t.Errorf("Sgemm uses %s, want the widest, %s", GemmKernelName(), want[len(want)-1])
	}
}

// TestSgemmConcurrentCallers runs Sgemm from several goroutines at once:
// they share the worker pool and the buffer pool.
func TestSgemmConcurrentCallers(t *testing.T) {
	old := gemmSerialCutoff
	gemmSerialCutoff = 0
	defer func() { gemmSerialCutoff = old }()
	defer setMaxProcs(3)()
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 99))
			for it := 0; it < 5; it++ {
				m, n, k := 20+r.IntN(60), 20+r.IntN(60), 1+r.IntN(80)
				a, b := randSlice(r, m*k), randSlice(r, k*n)
				got, want := make([]float32, m*n), make([]float32, m*n)
				Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
				SgemmRef(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Sqrt(float64(k)) {
						errs <- fmt.Sprintf("goroutine %d: %dx%dx%d: C[%d] = %g, want %g", g, m, n, k, i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// FuzzSgemm drives every kernel with fuzzer-chosen shapes, transposes,
// strides, scalars and worker counts, against SgemmRef.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(13), uint8(35), uint8(9), uint8(0), uint8(1), uint8(2), uint64(1))
	f.Add(uint8(1), uint8(1), uint8(0), uint8(3), uint8(0), uint8(0), uint64(2))
	f.Add(uint8(40), uint8(33), uint8(70), uint8(0xff), uint8(7), uint8(3), uint64(3))
	scal := []float32{0, 1, -1, 0.5, 3, -0.25, 2, 1}
	f.Fuzz(func(t *testing.T, m, n, k, flags, pads, threads uint8, seed uint64) {
		tc := gemmCase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: int(m % 80), n: int(n % 80), k: int(k % 160),
			alpha: scal[(flags>>2)&7], beta: scal[(flags>>5)&7],
			padA: int(pads & 3), padB: int(pads>>2) & 3, padC: int(pads>>4) & 3,
		}
		r := rand.New(rand.NewPCG(seed, 5))
		for _, kern := range gemmKernels() {
			runGemmCaseBig(t, kern, 1+int(threads%4), tc, r)
		}
	})
}
