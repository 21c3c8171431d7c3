//go:build !amd64 || purego

package tensor

const useVecDot = false

func dotAVX2(a, b *float32, n int) float32 { panic("tensor: no vector dot in this build") }

func axpyAVX2(a float32, x, y *float32, n int) { panic("tensor: no vector axpy in this build") }

func dotBF16AVX2(a *float32, w *uint16, n int) float32 { panic("tensor: no vector dot in this build") }

func dot4x2AVX2(x *float32, ldx int, w *float32, ldw int, n int, out *float32) {
	panic("tensor: no vector dot in this build")
}

func dot4x2BF16AVX2(x *float32, ldx int, w *uint16, ldw int, n int, out *float32) {
	panic("tensor: no vector dot in this build")
}

func dot4x2(x *float32, ldx int, w *float32, ldw int, n int, out *float32) {
	panic("tensor: no vector dot in this build")
}

func dot4x2BF16(x *float32, ldx int, w *uint16, ldw int, n int, out *float32) {
	panic("tensor: no vector dot in this build")
}

const useDot512 = false

func dotAVX512(a, b *float32, n int) float32 { panic("tensor: no vector dot in this build") }

func dotBF16AVX512(a *float32, w *uint16, n int) float32 {
	panic("tensor: no vector dot in this build")
}
