//go:build !openblas || !cgo

package openblas

// Available reports whether this build links OpenBLAS (-tags openblas).
const Available = false

// Sgemm panics: this build does not link OpenBLAS. Check Available first.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("openblas: built without -tags openblas")
}

// SetThreads does nothing without OpenBLAS.
func SetThreads(n int) {}

// CoreName is empty without OpenBLAS.
func CoreName() string { return "" }
