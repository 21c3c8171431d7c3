//go:build amd64 && !purego

package tensor

// Vector kernels of the decode path, in decode_amd64.s.

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

var useVecDot = hasAVX2

//go:noescape
func dotBF16AVX2(a *float32, w *uint16, n int) float32

//go:noescape
func dot4x2AVX2(x *float32, ldx int, w *float32, ldw int, n int, out *float32)

//go:noescape
func dot4x2BF16AVX2(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)
