//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"math"
	"testing"
)

// TestDot4x2Kernels checks each four-row kernel this CPU runs against a
// float64 sum, and that its bf16 form equals its float32 form on the
// widened weights bit for bit (the property that lets bf16 and float32
// checkpoints decode identically).
func TestDot4x2Kernels(t *testing.T) {
	if !useVecDot {
		t.Skip("no AVX2")
	}
	kernels := []struct {
		name string
		f32  func(x *float32, ldx int, w *float32, ldw int, n int, out *float32)
		bf16 func(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)
	}{{"avx2", dot4x2AVX2, dot4x2BF16AVX2}}
	if hasAVX512 {
		kernels = append(kernels, struct {
			name string
			f32  func(x *float32, ldx int, w *float32, ldw int, n int, out *float32)
			bf16 func(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)
		}{"avx512", dot4x2AVX512, dot4x2BF16AVX512})
	}
	for _, k := range kernels {
		for _, sh := range [][3]int{{16, 16, 16}, {32, 40, 35}, {256, 256, 300}, {768, 770, 768}, {0, 16, 16}, {48, 64, 50}} {
			n, ldx, ldw := sh[0], sh[1], sh[2]
			r := newRand(uint64(n + ldx))
			x := randn(r, 4*ldx, 1)
			wb, wf := toBF16(randn(r, 2*ldw, 1))
			var got, gotB [8]float32
			k.f32(&x[0], ldx, &wf[0], ldw, n, &got[0])
			k.bf16(&x[0], ldx, &wb[0], ldw, n, &gotB[0])
			for rr := range 4 {
				for c := range 2 {
					var want, mag float64
					for i := range n {
						p := float64(x[rr*ldx+i]) * float64(wf[c*ldw+i])
						want += p
						mag += math.Abs(p)
					}
					g := got[2*rr+c]
					if math.Abs(float64(g)-want) > 1e-5*(mag+1) {
						t.Errorf("%s %v: out[%d] = %g, want %g", k.name, sh, 2*rr+c, g, want)
					}
					if gotB[2*rr+c] != g {
						t.Errorf("%s %v: bf16 out[%d] = %g, float32 %g", k.name, sh, 2*rr+c, gotB[2*rr+c], g)
					}
				}
			}
		}
	}
}

func BenchmarkDot4x2AVX512(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	in, out := 768, 256
	r := newRand(1)
	x := randn(r, 4*in, 1)
	wb, _ := toBF16(randn(r, out*in, 1))
	var acc [8]float32
	for _, k := range []struct {
		name string
		f    func(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)
	}{{"avx2", dot4x2BF16AVX2}, {"avx512", dot4x2BF16AVX512}} {
		b.Run(fmt.Sprintf("bf16/%dx%d/%s", in, out, k.name), func(b *testing.B) {
			for b.Loop() {
				for o := 0; o < out; o += 2 {
					k.f(&x[0], in, &wb[o*in], in, in, &acc[0])
				}
			}
		})
	}
}

// TestDotVec512: the one-row dots with and without the AVX-512 blocks, for
// every length across the block boundaries, against a float64 sum, and
// bf16 equal to float32 on the widened weights bit for bit.
func TestDotVec512(t *testing.T) {
	if !useVecDot {
		t.Skip("no AVX2")
	}
	defer func(v bool) { useDot512 = v }(useDot512)
	for _, on := range []bool{false, hasAVX512} {
		useDot512 = on
		for n := 0; n <= 200; n++ {
			r := newRand(uint64(n + 1))
			a := randn(r, n, 1)
			wb, wf := toBF16(randn(r, n, 1))
			got, gotB := dotVec(a, wf), dotBF16(a, wb)
			var want, mag float64
			for i := range n {
				want += float64(a[i]) * float64(wf[i])
				mag += math.Abs(float64(a[i]) * float64(wf[i]))
			}
			if math.Abs(float64(got)-want) > 1e-5*(mag+1) {
				t.Errorf("avx512 %v, n %d: dot %g, want %g", on, n, got, want)
			}
			if got != gotB {
				t.Errorf("avx512 %v, n %d: bf16 dot %g, float32 %g", on, n, gotB, got)
			}
		}
	}
}

// BenchmarkDecodeLinear512: one-row and four-row bf16 linears (a decode
// step and a k = 3 verification) with the AVX-512 kernels on and off.
func BenchmarkDecodeLinear512(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	defer func(v bool) { useDot512 = v }(useDot512)
	for _, sh := range [][2]int{{256, 768}, {768, 256}, {256, 2048}} {
		in, out := sh[0], sh[1]
		r := newRand(1)
		wb, _ := toBF16(randn(r, in*out, 1))
		x := randn(r, 4*in, 1)
		y := make([]float32, 4*out)
		for _, n := range []int{1, 4} {
			for _, on := range []bool{false, true} {
				b.Run(fmt.Sprintf("%dx%dx%d/avx512=%v", n, in, out, on), func(b *testing.B) {
					useDot512 = on
					for b.Loop() {
						LinearBF16Forward(y, x, wb, nil, n, in, out)
					}
				})
			}
		}
	}
}
