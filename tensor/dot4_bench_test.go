//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"testing"
)

// BenchmarkDot4Kernels: four rows of x against every row of W with the
// weight-row-pair kernel (dot4x2AVX2) against one row of x (dotAVX2, a
// decode step), single goroutine, for an MLP-sized and an LM-head-sized W.
// Four rows cost about twice one row while W stays in cache: the pair
// kernel runs at the FMA units' peak, the single row at the loads'.
func BenchmarkDot4Kernels(b *testing.B) {
	if !useVecDot {
		b.Skip("no AVX2")
	}
	for _, out := range []int{960, 4096} {
		in := 320
		r := newRand(1)
		x, w := randn(r, 4*in, 1), randn(r, out*in, 1)
		var acc [8]float32
		b.Run(fmt.Sprintf("pairs/out=%d", out), func(b *testing.B) {
			b.SetBytes(int64(4 * in * out))
			for b.Loop() {
				for o := 0; o < out; o += 2 {
					dot4x2AVX2(&x[0], in, &w[o*in], in, in, &acc[0])
				}
			}
		})
		b.Run(fmt.Sprintf("dot1/out=%d", out), func(b *testing.B) {
			b.SetBytes(int64(4 * in * out))
			for b.Loop() {
				for o := 0; o < out; o++ {
					acc[0] = dotAVX2(&x[0], &w[o*in], in)
				}
			}
		})
	}
}
