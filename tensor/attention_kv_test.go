package tensor

import (
	"fmt"
	"testing"
)

func TestAttentionKVForward(t *testing.T) {
	cases := []KVAttnShape{
		{T: 1, Past: 0, NH: 2, KVH: 1, HD: 8},
		{T: 1, Past: 37, NH: 4, KVH: 2, HD: 64},
		{T: 5, Past: 20, NH: 6, KVH: 2, HD: 40},
		{T: 7, Past: 0, NH: 3, KVH: 3, HD: 16},
		{T: 4, Past: 30, NH: 4, KVH: 1, HD: 32, Window: 8},
		{T: 3, Past: 10, NH: 2, KVH: 2, HD: 33, Window: 1, LDK: 70},
		{T: 2, Past: 5, NH: 2, KVH: 1, HD: 16, Scale: 0.3},
		{T: 4, Past: 300, NH: 4, KVH: 2, HD: 32}, // above kvSerialWork: split over workers
		{T: 16, Past: 0, NH: 2, KVH: 1, HD: 16},
		{T: 40, Past: 100, NH: 4, KVH: 2, HD: 32},
		{T: 150, Past: 70, NH: 2, KVH: 2, HD: 24, Window: 50},
		{T: 70, Past: 3, NH: 3, KVH: 1, HD: 8, Window: 1, LDK: 20},
	}
	for _, sh := range cases {
		t.Run(fmt.Sprintf("%+v", sh), func(t *testing.T) {
			r := newRand(uint64(sh.T*100 + sh.Past))
			S := sh.Past + sh.T
			q := randn(r, sh.T*sh.NH*sh.HD, 1)
			k := randn(r, S*sh.ldk(), 1)
			v := randn(r, S*sh.ldk(), 1)
			got := make([]float32, len(q))
			want := make([]float32, len(q))
			AttentionKVForward(got, q, k, v, sh)
			AttentionKVRef(want, q, k, v, sh)
			checkClose(t, "out", got, want, 1e-5, 1e-4)
		})
	}
}

// TestAttentionKVMatchesTraining: with Past = 0 and the keys of the same
// tokens, the cache kernel equals the training kernel (causal, windowed).
func TestAttentionKVMatchesTraining(t *testing.T) {
	for _, w := range []int{0, 5} {
		r := newRand(7)
		T, NH, KVH, HD := 19, 4, 2, 16
		q := randn(r, T*NH*HD, 1)
		k := randn(r, T*KVH*HD, 1)
		v := randn(r, T*KVH*HD, 1)
		a := make([]float32, len(q))
		b := make([]float32, len(q))
		lse := make([]float32, NH*T)
		AttentionForward(a, lse, q, k, v, AttnShape{T: T, S: T, NH: NH, KVH: KVH, HD: HD, Window: w})
		AttentionKVForward(b, q, k, v, KVAttnShape{T: T, NH: NH, KVH: KVH, HD: HD, Window: w})
		checkClose(t, fmt.Sprint("window ", w), b, a, 1e-5, 1e-4)
	}
}

func TestLinearRowsForward(t *testing.T) {
	for _, sh := range [][3]int{{1, 64, 10}, {3, 100, 37}, {4, 768, 300}, {1, 31, 5}, {2, 17, 1}, {4, 70, 9}, {5, 16, 3}, {7, 15, 4}, {8, 200, 11}, {6, 48, 5}} {
		n, in, out := sh[0], sh[1], sh[2]
		r := newRand(uint64(in))
		x, w, b := randn(r, n*in, 1), randn(r, out*in, 1), randn(r, out, 1)
		for _, bias := range [][]float32{nil, b} {
			got := make([]float32, n*out)
			want := make([]float32, n*out)
			LinearRowsForward(got, x, w, bias, n, in, out)
			LinearForwardRef(want, x, w, bias, n, in, out)
			checkClose(t, fmt.Sprint(sh), got, want, 1e-4, 1e-4)
			clear(got)
			LinearAuto(got, x, w, bias, n, in, out)
			checkClose(t, fmt.Sprint("auto ", sh), got, want, 1e-4, 1e-4)
		}
	}
}

func TestAxpyVec(t *testing.T) {
	r := newRand(3)
	for _, n := range []int{0, 1, 15, 16, 17, 64, 100} {
		x, y := randn(r, n, 1), randn(r, n, 1)
		want := make([]float32, n)
		for i := range want {
			want[i] = y[i] + 0.7*x[i]
		}
		axpyVec(0.7, x, y)
		checkClose(t, fmt.Sprint("axpy ", n), y, want, 1e-6, 1e-6)
	}
}

// BenchmarkLinearDecode: one token through a 768→2048 projection, streamed
// (LinearRowsForward) against Sgemm (LinearForward).
func BenchmarkLinearDecode(b *testing.B) {
	in, out := 768, 2048
	r := newRand(1)
	x, w := randn(r, in, 1), randn(r, in*out, 1)
	y := make([]float32, out)
	for _, f := range []struct {
		name string
		fn   func(y, x, w, b []float32, n, in, out int)
	}{{"rows", LinearRowsForward}, {"sgemm", LinearForward}} {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(4 * in * out))
			b.ReportAllocs()
			for b.Loop() {
				f.fn(y, x, w, nil, 1, in, out)
			}
		})
	}
}
