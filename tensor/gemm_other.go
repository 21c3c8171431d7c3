//go:build !amd64 || purego

package tensor

// Without assembly (other architectures, -tags purego) the Go kernel runs.
var bestKernel = goKernel

// gemmKernels lists every kernel this build and CPU can run (tests try all).
func gemmKernels() []*gemmKernel { return []*gemmKernel{goKernel} }
