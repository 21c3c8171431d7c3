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

//go:noescape
func dot4x2AVX512(x *float32, ldx int, w *float32, ldw int, n int, out *float32)

//go:noescape
func dot4x2BF16AVX512(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)

// useDot512 picks the AVX-512 four-row kernels (tests and benchmarks turn
// it off to compare with AVX2).
var useDot512 = hasAVX512

// dot4x2 is four rows of x against two float32 weight rows (ldw apart):
// out[2r+c] = Σ_i x[r·ldx+i]·w[c·ldw+i], n a multiple of 16.
func dot4x2(x *float32, ldx int, w *float32, ldw int, n int, out *float32) {
	if useDot512 {
		dot4x2AVX512(x, ldx, w, ldw, n, out)
		return
	}
	dot4x2AVX2(x, ldx, w, ldw, n, out)
}

// dot4x2BF16 is dot4x2 on bfloat16 weight rows, bit for bit the result of
// their float32 widening.
func dot4x2BF16(x *float32, ldx int, w *uint16, ldw int, n int, out *float32) {
	if useDot512 {
		dot4x2BF16AVX512(x, ldx, w, ldw, n, out)
		return
	}
	dot4x2BF16AVX2(x, ldx, w, ldw, n, out)
}

//go:noescape
func dotAVX512(a, b *float32, n int) float32

//go:noescape
func dotBF16AVX512(a *float32, w *uint16, n int) float32
