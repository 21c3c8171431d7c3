package tensor

import (
	"errors"
	"sync"
	"time"
)

// FMAPeak is the measured floating-point peak of this machine: what the SGEMM
// figures are judged against.
type FMAPeak struct {
	ISA     string  // avx512 or avx2: the widest FMA the loop used
	PerCore float64 // GFLOP/s of one goroutine alone
	Total   float64 // GFLOP/s of all workers at once
	Workers int
}

// MeasureFMAPeak times a loop of 24 (AVX-512) or 12 (AVX2) independent fp32
// VFMADD231PS accumulators, first on one goroutine, then on workers at once,
// each for about dur. It returns an error in builds without assembly.
func MeasureFMAPeak(workers int, dur time.Duration) (FMAPeak, error) {
	isa, loop, perIter := peakLoop()
	if loop == nil {
		return FMAPeak{}, errors.New("tensor: FMA peak needs the amd64 assembly build (not purego) and AVX2+FMA")
	}
	workers = max(workers, 1)
	// Calibrate the iteration count to about dur.
	n := 1 << 16
	for {
		t := time.Now()
		loop(n)
		el := time.Since(t)
		if el > dur/4 || n > 1<<36 {
			n = int(float64(n) * float64(dur) / float64(max(el, time.Microsecond)))
			break
		}
		n *= 4
	}
	n = max(n, 1)
	run := func() float64 {
		t := time.Now()
		loop(n)
		return perIter * float64(n) / time.Since(t).Seconds() / 1e9
	}
	one := max(run(), run())
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(n)
		}()
	}
	wg.Wait()
	total := perIter * float64(n) * float64(workers) / time.Since(start).Seconds() / 1e9
	return FMAPeak{ISA: isa, PerCore: one, Total: total, Workers: workers}, nil
}
