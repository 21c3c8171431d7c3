//go:build amd64 && !purego

package tensor

// In optim_amd64.s.

//go:noescape
func adamwAVX2(w, gr, m, v *float32, n int, p *adamwScalars)

//go:noescape
func sumSquaresAVX2(x *float32, n int) float32

var useVecOptim = hasAVX2
