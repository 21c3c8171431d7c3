//go:build openblas && cgo

// Package openblas binds OpenBLAS's cblas_sgemm behind tensor.Sgemm's
// signature, for side-by-side benchmarks and cross-checks of the Go GEMM.
// It links OpenBLAS only with -tags openblas (cgo, Debian libopenblas-dev);
// otherwise Available is false and Sgemm panics. It is a package of its own
// because Go does not allow cgo and Go assembly in one package.
package openblas

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
// char* openblas_get_corename(void);
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Available reports whether this build links OpenBLAS (-tags openblas).
const Available = true

// Sgemm is tensor.Sgemm computed by OpenBLAS's cblas_sgemm: the same
// arguments, the same result up to rounding. It exists in -tags openblas
// builds for side-by-side benchmarks and cross-checks. OpenBLAS uses
// GOMAXPROCS threads unless SetThreads says otherwise.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		// cblas reads C when beta is 0 in some paths; keep Sgemm's contract.
		scaleC(m, n, beta, c, ldc)
		return
	}
	if beta == 0 {
		// OpenBLAS scales C by beta first; 0·NaN would leave NaN.
		scaleC(m, n, 0, c, ldc)
	}
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	openblasThreadsOnce()
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb), C.float(beta),
		(*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

var openblasThreadsSet bool

func openblasThreadsOnce() {
	if !openblasThreadsSet {
		SetThreads(runtime.GOMAXPROCS(0))
	}
}

// SetThreads sets OpenBLAS's worker thread count. Its pthreads are
// outside Go's scheduler: more threads than cores oversubscribes them.
func SetThreads(n int) {
	openblasThreadsSet = true
	C.openblas_set_num_threads(C.int(max(n, 1)))
}

// checkGemm panics, as tensor.Sgemm does, when a slice is too short.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("openblas: gemm: negative shape m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(what string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < max(cols, 1) || len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("openblas: gemm: %s: %d elements with stride %d too short for %d×%d", what, len(s), ld, rows, cols))
		}
	}
	if m > 0 && n > 0 && k > 0 {
		need("A", a, ar, ac, lda)
		need("B", b, br, bc, ldb)
	}
	need("C", c, m, n, ldc)
}

// scaleC sets C = beta·C, without reading C when beta is 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// CoreName is the CPU kernel set OpenBLAS picked ("SkylakeX", "Haswell", ...).
// Under virtualization it may fall back to "Prescott" (SSE3 only); set
// OPENBLAS_CORETYPE=SkylakeX (or Haswell) in the environment to override.
func CoreName() string { return C.GoString(C.openblas_get_corename()) }
