//go:build !amd64 || purego

package tensor

// Without assembly (other architectures, -tags purego) the Go kernel runs.
var bestKernel = goKernel

// gemmKernels lists every kernel this build and CPU can run (tests try all).
func gemmKernels() []*gemmKernel { return []*gemmKernel{goKernel} }

// transpose16: no vector transposing packer in this build.
var transpose16 func(src *float32, ld int, dst *float32, ldd int, alpha float32, mask uint16)

// packRowsAsm: no vector row packer in this build.
var packRowsAsm func(src *float32, ld, kc int, dst *float32, w int, alpha float32, loadLo, loadHi, storeLo, storeHi uint16)
