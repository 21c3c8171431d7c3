//go:build !unix

package gemmbench

// Without getrusage there is no CPU-time figure (reported as 0).
func processCPU() float64 { return 0 }
func threadCPU() float64  { return 0 }
