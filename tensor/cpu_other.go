//go:build !amd64 || purego

package tensor

// peakLoop: without assembly there is no FMA loop whose speed means anything.
func peakLoop() (isa string, loop func(n int), flopsPerIter float64) { return "", nil, 0 }
