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

//go:noescape
func transpose16AVX512(src *float32, ld int, dst *float32, ldd int, alpha float32, mask uint16)

// transpose16 is the 16×16 transposing packer (nil without AVX-512): see
// packT.
var transpose16 = func() func(src *float32, ld int, dst *float32, ldd int, alpha float32, mask uint16) {
	if hasAVX512 {
		return transpose16AVX512
	}
	return nil
}()

//go:noescape
func packRows16AVX512(src *float32, ld, kc int, dst *float32, w int, alpha float32, loadLo, loadHi, storeLo, storeHi uint16)

//go:noescape
func packRows32AVX512(src *float32, ld, kc int, dst *float32, w int, alpha float32, loadLo, loadHi, storeLo, storeHi uint16)

// packRowsAsm is the masked row packer for widths up to 32 (nil without
// AVX-512): see packN.
var packRowsAsm = func() func(src *float32, ld, kc int, dst *float32, w int, alpha float32, loadLo, loadHi, storeLo, storeHi uint16) {
	if !hasAVX512 {
		return nil
	}
	return func(src *float32, ld, kc int, dst *float32, w int, alpha float32, loadLo, loadHi, storeLo, storeHi uint16) {
		if w <= 16 {
			packRows16AVX512(src, ld, kc, dst, w, alpha, loadLo, loadHi, storeLo, storeHi)
		} else {
			packRows32AVX512(src, ld, kc, dst, w, alpha, loadLo, loadHi, storeLo, storeHi)
		}
	}
}()

var (
	// avx512Kernel: 12×32 tile, 24 zmm accumulators. A 12×kc A panel
	// (24 KiB at kc=512) stays in L1 while it sweeps qc kc×32 B panels
	// (1.3 MiB) held in L2.
	avx512Kernel = &gemmKernel{name: "avx512", mr: 12, nr: 32, mc: 384, kc: 512, nc: 4096, qc: 20, fn: sgemmKernelAVX512}
	// avx2Kernel: 6×16 tile, 12 ymm accumulators, the same blocking.
	avx2Kernel = &gemmKernel{name: "avx2", mr: 6, nr: 16, mc: 384, kc: 512, nc: 4096, qc: 40, fn: sgemmKernelAVX2}
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
