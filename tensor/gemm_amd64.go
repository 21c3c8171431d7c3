//go:build amd64 && !purego

package tensor

//go:generate go run gemm_asm_gen.go

import "golang.org/x/sys/cpu"

// Assembly micro-kernels in gemm_amd64.s. Each computes a full mr×nr tile
// C = Ap·Bp + beta·C (C unread when beta is 0) and ends with VZEROUPPER.

//go:noescape
func sgemmKernelAVX512(kc int, ap, bp, c *float32, ldc int, beta float32)

//go:noescape
func sgemmKernelAVX2(kc int, ap, bp, c *float32, ldc int, beta float32)

var (
	// avx512Kernel: 12×32 tile, 24 zmm accumulators. The kc×32 B panel
	// (32 KiB at kc=256) stays in L1 while mc/12 A panels stream from the
	// mc×kc A block in L2.
	avx512Kernel = &gemmKernel{name: "avx512", mr: 12, nr: 32, mc: 192, kc: 256, nc: 4096, fn: sgemmKernelAVX512}
	// avx2Kernel: 6×16 tile, 12 ymm accumulators.
	avx2Kernel = &gemmKernel{name: "avx2", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4096, fn: sgemmKernelAVX2}
)

var bestKernel = func() *gemmKernel {
	switch {
	case hasAVX512:
		return avx512Kernel
	case hasAVX2:
		return avx2Kernel
	}
	return goKernel
}()

var (
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// gemmKernels lists every kernel this build and CPU can run (tests try all).
func gemmKernels() []*gemmKernel {
	ks := []*gemmKernel{goKernel}
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	return ks
}
