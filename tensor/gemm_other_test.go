//go:build !amd64 || purego

package tensor

const hasAsmKernels = false

func cpuHasAVX512() bool  { return false }
func cpuHasAVX2FMA() bool { return false }
