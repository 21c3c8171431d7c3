//go:build !amd64 || purego

package tensor

const useVecExp = false

func expAffineAVX2(dst, src *float32, n int, a, b float32) float32 {
	panic("tensor: no vector exp in this build")
}

func maxAVX2(x *float32, n int) float32 { panic("tensor: no vector max in this build") }
