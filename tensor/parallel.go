package tensor

import (
	"runtime"
	"sync"
)

// The kernels split elementwise work over row ranges with ParallelFor. A small
// pool of long-lived goroutines runs the pieces, so a kernel call costs a few
// channel operations instead of goroutine starts, and nested calls never wait
// on busy workers (a piece no idle worker takes runs inline).

type parTask struct {
	fn     func(chunk, lo, hi int)
	chunk  int
	lo, hi int
	wg     *sync.WaitGroup
}

var parPool struct {
	mu      sync.Mutex
	workers int
	ch      chan parTask
}

var wgPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

func parWorker(ch chan parTask) {
	for t := range ch {
		t.fn(t.chunk, t.lo, t.hi)
		t.wg.Done()
	}
}

// ensureWorkers keeps n-1 pool goroutines alive (the caller is the n-th).
func ensureWorkers(n int) chan parTask {
	parPool.mu.Lock()
	defer parPool.mu.Unlock()
	if parPool.ch == nil {
		parPool.ch = make(chan parTask)
	}
	for parPool.workers < n-1 {
		go parWorker(parPool.ch)
		parPool.workers++
	}
	return parPool.ch
}

// Workers is the number of pieces the kernels split their work into: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Chunks returns how many pieces ParallelChunks splits n items into when each
// piece should hold at least grain items: between 1 and Workers().
func Chunks(n, grain int) int {
	if grain < 1 {
		grain = 1
	}
	c := (n + grain - 1) / grain
	if w := Workers(); c > w {
		c = w
	}
	if c < 1 {
		c = 1
	}
	return c
}

// ParallelFor calls fn on disjoint ranges [lo, hi) covering [0, n), each at
// least grain long (except a short tail), concurrently. It returns when all are done.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	ParallelChunks(n, Chunks(n, grain), func(_, lo, hi int) { fn(lo, hi) })
}

// ParallelChunks splits [0, n) into exactly chunks contiguous ranges (some may
// be empty when n < chunks) and calls fn(chunk, lo, hi) for each concurrently.
// Callers that keep per-chunk partial results (e.g. weight gradients) index them by chunk.
func ParallelChunks(n, chunks int, fn func(chunk, lo, hi int)) {
	if chunks <= 1 || n <= 1 {
		if chunks < 1 {
			chunks = 1
		}
		for c := 0; c < chunks; c++ {
			fn(c, n*c/chunks, n*(c+1)/chunks)
		}
		return
	}
	ch := ensureWorkers(chunks)
	wg := wgPool.Get().(*sync.WaitGroup)
	for c := 1; c < chunks; c++ {
		t := parTask{fn: fn, chunk: c, lo: n * c / chunks, hi: n * (c + 1) / chunks, wg: wg}
		wg.Add(1)
		if !trySend(ch, t) {
			// Every worker is busy (a nested call, or one is still on its way
			// back from the previous piece): do it here.
			fn(t.chunk, t.lo, t.hi)
			wg.Done()
		}
	}
	fn(0, 0, n/chunks)
	wg.Wait()
	wgPool.Put(wg)
}

// trySend hands t to an idle worker, giving a worker that is just finishing
// its previous piece one chance to get back to the channel.
func trySend(ch chan parTask, t parTask) bool {
	select {
	case ch <- t:
		return true
	default:
	}
	runtime.Gosched()
	select {
	case ch <- t:
		return true
	default:
		return false
	}
}

// scratch hands out reusable float32 buffers so kernels need no allocation in
// steady state.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns a buffer of length n (contents undefined); give it back with putScratch.
func getScratch(n int) *[]float32 {
	p := scratchPool.Get().(*[]float32)
	if cap(*p) < n {
		// Grow geometrically: attention asks for one more score per decode step.
		*p = make([]float32, n, max(n, 2*cap(*p), 256))
	}
	*p = (*p)[:n]
	return p
}

func putScratch(p *[]float32) { scratchPool.Put(p) }

// Zero sets every element of x to 0.
func Zero(x []float32) {
	clear(x)
}

func syncPoolInt32() *sync.Pool { return &sync.Pool{New: func() any { return new([]int32) }} }

func getInt32Scratch(n int) *[]int32 {
	p := int32Pool.Get().(*[]int32)
	if cap(*p) < n {
		*p = make([]int32, n)
	}
	*p = (*p)[:n]
	return p
}

func putInt32Scratch(p *[]int32) { int32Pool.Put(p) }
