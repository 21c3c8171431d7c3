//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

const hasAsmKernels = true

func cpuHasAVX512() bool  { return cpu.X86.HasAVX512F }
func cpuHasAVX2FMA() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }
