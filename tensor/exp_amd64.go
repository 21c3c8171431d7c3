//go:build amd64 && !purego

package tensor

// expAffineAVX2 is in exp_amd64.s.
//
//go:noescape
func expAffineAVX2(dst, src *float32, n int, a, b float32) float32

// useVecExp reports whether expAffine may use the AVX2 kernel.
var useVecExp = hasAVX2

//go:noescape
func maxAVX2(x *float32, n int) float32
