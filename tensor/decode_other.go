//go:build !amd64 || purego

package tensor

const useVecDot = false

func dotAVX2(a, b *float32, n int) float32 { panic("tensor: no vector dot in this build") }

func axpyAVX2(a float32, x, y *float32, n int) { panic("tensor: no vector axpy in this build") }

func dotBF16AVX2(a *float32, w *uint16, n int) float32 { panic("tensor: no vector dot in this build") }
