package gemmbench

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/speculators-go/speculators/tensor"
)

// Peak is one measurement of the fp32 FMA peak.
type Peak struct {
	ISA string `json:"isa"`
	// GFLOP/s of one goroutine alone, by wall clock and by the CPU time its
	// thread got (on a shared machine the second is the core's real speed).
	PerCore    float64 `json:"gflops_per_core"`
	PerCoreCPU float64 `json:"gflops_per_core_cpu"`
	// GFLOP/s of Workers goroutines at once, by wall clock and summed over
	// each thread's own CPU time.
	Total    float64 `json:"gflops"`
	TotalCPU float64 `json:"gflops_cpu"`
	Workers  int     `json:"workers"`
}

// MeasurePeak times tensor.FMALoop for about dur, first on one goroutine,
// then on workers goroutines at once.
func MeasurePeak(workers int, dur time.Duration) (Peak, error) {
	isa, loop, perIter, ok := tensor.FMALoop()
	if !ok {
		return Peak{}, errors.New("gemmbench: the FMA peak loop needs the amd64 assembly build (not purego) and AVX2+FMA")
	}
	workers = max(workers, 1)
	n := 1 << 14
	for {
		t := time.Now()
		loop(n)
		el := time.Since(t)
		if el > dur/8 || n > 1<<36 {
			n = max(1, int(float64(n)*float64(dur)/float64(max(el, time.Microsecond))))
			break
		}
		n *= 4
	}
	flops := perIter * float64(n)
	// timed runs loop(n) on a locked thread: wall and thread CPU seconds.
	timed := func() (wall, cpu float64) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c0, t0 := threadCPU(), time.Now()
		loop(n)
		return time.Since(t0).Seconds(), threadCPU() - c0
	}
	p := Peak{ISA: isa, Workers: workers}
	wall, cpu := timed()
	p.PerCore = flops / wall / 1e9
	if cpu > 0 {
		p.PerCoreCPU = flops / cpu / 1e9
	}
	var wg sync.WaitGroup
	cpus := make([]float64, workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, cpus[w] = timed()
		}()
	}
	wg.Wait()
	p.Total = flops * float64(workers) / time.Since(start).Seconds() / 1e9
	for _, c := range cpus {
		if c > 0 {
			p.TotalCPU += flops / c / 1e9
		}
	}
	return p, nil
}
