//go:build !amd64 || purego

package tensor

const useVecOptim = false

func adamwAVX2(w, gr, m, v *float32, n int, p *adamwScalars) {
	panic("tensor: no vector AdamW in this build")
}

func sumSquaresAVX2(x *float32, n int) float32 {
	panic("tensor: no vector sum of squares in this build")
}
