package tensor

import (
	"fmt"
	"math"
	"testing"
)

func toBF16(x []float32) ([]uint16, []float32) {
	b := make([]uint16, len(x))
	w := make([]float32, len(x))
	for i, v := range x {
		b[i] = uint16(math.Float32bits(v) >> 16) // truncation: any bf16 value will do
		w[i] = BF16ToFloat32(b[i])
	}
	return b, w
}

// TestLinearBF16Forward: bf16 weights give the results of their float32
// widening, bit for bit on the streamed path (same summation order).
func TestLinearBF16Forward(t *testing.T) {
	for _, sh := range [][3]int{{1, 64, 10}, {3, 100, 37}, {8, 768, 300}, {1, 31, 5}, {9, 70, 33}, {20, 64, 64}, {4, 70, 9}, {5, 16, 3}, {7, 15, 4}, {6, 200, 11}, {33, 48, 20}, {70, 32, 16}} {
		n, in, out := sh[0], sh[1], sh[2]
		r := newRand(uint64(in + n))
		x, bias := randn(r, n*in, 1), randn(r, out, 1)
		wb, wf := toBF16(randn(r, out*in, 1))
		for _, b := range [][]float32{nil, bias} {
			got := make([]float32, n*out)
			want := make([]float32, n*out)
			ref := make([]float32, n*out)
			LinearBF16Forward(got, x, wb, b, n, in, out)
			LinearAuto(want, x, wf, b, n, in, out)
			LinearForwardRef(ref, x, wf, b, n, in, out)
			checkClose(t, fmt.Sprint("ref ", sh), got, ref, 1e-4, 1e-4)
			if n <= linearRowsMax {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v: element %d = %g, float32 path %g", sh, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkLinearDecodeBF16(b *testing.B) {
	in, out := 768, 8192
	r := newRand(1)
	x := randn(r, in, 1)
	wb, wf := toBF16(randn(r, in*out, 1))
	y := make([]float32, out)
	b.Run("bf16", func(b *testing.B) {
		b.SetBytes(int64(2 * in * out))
		for b.Loop() {
			LinearBF16Forward(y, x, wb, nil, 1, in, out)
		}
	})
	b.Run("f32", func(b *testing.B) {
		b.SetBytes(int64(4 * in * out))
		for b.Loop() {
			LinearRowsForward(y, x, wf, nil, 1, in, out)
		}
	})
}

// BenchmarkLinearBF16Rows compares, at prefill row counts, streaming the
// bf16 weights (once per four rows) with widening them for Sgemm.
func BenchmarkLinearBF16Rows(b *testing.B) {
	for _, sh := range [][2]int{{256, 768}, {768, 256}, {256, 2048}} {
		in, out := sh[0], sh[1]
		r := newRand(1)
		wb, _ := toBF16(randn(r, in*out, 1))
		for _, n := range []int{1, 4, 8, 16, 24, 32, 64, 128} {
			x := randn(r, n*in, 1)
			y := make([]float32, n*out)
			b.Run(fmt.Sprintf("%dx%dx%d/stream", n, in, out), func(b *testing.B) {
				for b.Loop() {
					linearRows(y, x, nil, wb, nil, n, in, out)
				}
			})
			b.Run(fmt.Sprintf("%dx%dx%d/widen", n, in, out), func(b *testing.B) {
				for b.Loop() {
					linearBF16Widen(y, x, wb, nil, n, in, out)
				}
			})
		}
	}
}
