package tensor

import (
	"fmt"
	"math"
	"testing"
)

// The elementwise kernels run decode-sized work on the calling goroutine
// (no closure, no hand-off) and larger work over the workers. These tests
// check both sides of each threshold against the plain references, and
// that the decode-sized calls allocate nothing.

// rowCounts returns row counts that take the serial path (1, a few) and,
// where the machine has more than one worker, the parallel path.
func rowCounts(grain int) []int {
	ns := []int{1, 3}
	if Workers() > 1 {
		ns = append(ns, 2*grain+5)
	}
	return ns
}

func TestKernelPathsMatchReferences(t *testing.T) {
	r := newRand(21)
	for _, c := range []int{64, 320} {
		for _, n := range rowCounts(rowGrain(c)) {
			t.Run(fmt.Sprintf("rmsnorm n=%d c=%d", n, c), func(t *testing.T) {
				x, w := randn(r, n*c, 1), randn(r, c, 1)
				y, rstd := make([]float32, n*c), make([]float32, n)
				yr, rstdr := make([]float32, n*c), make([]float32, n)
				RMSNormForward(y, rstd, x, w, n, c, 1e-6)
				RMSNormForwardRef(yr, rstdr, x, w, n, c, 1e-6)
				checkClose(t, "y", y, yr, 1e-6, 1e-5)
				checkClose(t, "rstd", rstd, rstdr, 1e-6, 1e-5)
			})
			t.Run(fmt.Sprintf("embedding n=%d c=%d", n, c), func(t *testing.T) {
				v := 7
				w := randn(r, v*c, 1)
				ids := make([]int32, n)
				for i := range ids {
					ids[i] = int32((i * 5) % v)
				}
				out := make([]float32, n*c)
				if err := EmbeddingForward(out, w, ids, v, c); err != nil {
					t.Fatal(err)
				}
				for i, id := range ids {
					checkClose(t, "row", out[i*c:(i+1)*c], w[int(id)*c:int(id+1)*c], 0, 0)
				}
			})
			t.Run(fmt.Sprintf("softmax n=%d v=%d", n, c), func(t *testing.T) {
				x := randn(r, n*c, 3)
				y := make([]float32, n*c)
				SoftmaxForward(y, x, n, c)
				want := make([]float32, n*c)
				for i := range n {
					row := x[i*c : (i+1)*c]
					m := math.Inf(-1)
					for _, v := range row {
						m = math.Max(m, float64(v))
					}
					var z float64
					for _, v := range row {
						z += math.Exp(float64(v) - m)
					}
					for j, v := range row {
						want[i*c+j] = float32(math.Exp(float64(v)-m) / z)
					}
				}
				checkClose(t, "p", y, want, 1e-6, 1e-5)
			})
		}
	}
	for _, n := range []int{1, 4, 3 * 16384} {
		t.Run(fmt.Sprintf("silu n=%d", n), func(t *testing.T) {
			g, u := randn(r, n, 2), randn(r, n, 1)
			h, hr := make([]float32, n), make([]float32, n)
			SiLUGateForward(h, g, u)
			SiLUGateForwardRef(hr, g, u)
			checkClose(t, "h", h, hr, 1e-6, 1e-5)
		})
	}
	inv, sc, err := RoPEInvFreq(RoPEConfig{Theta: 10000, HeadDim: 64})
	if err != nil {
		t.Fatal(err)
	}
	nh, hd := 5, 64
	for _, T := range rowCounts(max(rowGrain(4*len(inv)), rowGrain(nh*hd))) {
		t.Run(fmt.Sprintf("rope T=%d", T), func(t *testing.T) {
			pos := make([]int32, T)
			for i := range pos {
				pos[i] = int32(3*i + 1)
			}
			h := len(inv)
			cos, sin := make([]float32, T*h), make([]float32, T*h)
			RoPETables(cos, sin, pos, inv, sc)
			for ti, p := range pos {
				for i, f := range inv {
					a := float64(float32(p) * f) // the angle in float32, as transformers
					if cos[ti*h+i] != float32(math.Cos(a))*sc || sin[ti*h+i] != float32(math.Sin(a))*sc {
						t.Fatalf("table row %d dim %d: (%v, %v), want (%v, %v)", ti, i, cos[ti*h+i], sin[ti*h+i], math.Cos(a), math.Sin(a))
					}
				}
			}
			x := randn(r, T*nh*hd, 1)
			a, b := append([]float32(nil), x...), append([]float32(nil), x...)
			RoPEForward(a, cos, sin, T, nh, hd, hd)
			RoPEForwardRef(b, cos, sin, T, nh, hd, hd)
			checkClose(t, "rope", a, b, 0, 0)
		})
	}
}

// TestDecodeKernelsDoNotAllocate: the kernels of one decode step (one or a
// few rows of a small model) allocate nothing.
func TestDecodeKernelsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops entries at random under the race detector")
	}
	r := newRand(22)
	const H, I, V, NH, HD, past = 320, 960, 1024, 5, 64, 64
	n := 4
	x, w := randn(r, n*I, 1), randn(r, V*H, 0.1)
	y, rstd := make([]float32, n*V), make([]float32, n*NH)
	ids := []int32{1, 2, 3, 4}
	inv, sc, err := RoPEInvFreq(RoPEConfig{Theta: 10000, HeadDim: HD})
	if err != nil {
		t.Fatal(err)
	}
	pos := []int32{64, 65, 66, 67}
	cos, sin := make([]float32, n*HD/2), make([]float32, n*HD/2)
	k, v := randn(r, (past+n)*NH*HD, 1), randn(r, (past+n)*NH*HD, 1)
	cases := map[string]func(){
		"rmsnorm":   func() { RMSNormForward(y, rstd, x, w, n, H, 1e-6) },
		"qk-norm":   func() { RMSNormForward(y, rstd, x, w, n*NH, HD, 1e-6) },
		"embedding": func() { _ = EmbeddingForward(y, w, ids, V, H) },
		"rope-tab":  func() { RoPETables(cos, sin, pos, inv, sc) },
		"rope":      func() { RoPEForward(y, cos, sin, n, NH, HD, HD) },
		"silu":      func() { SiLUGateForward(y[:n*I], x[:n*I], x[:n*I]) },
		"softmax":   func() { SoftmaxForward(y, x, 1, V) },
		"linear1":   func() { LinearAuto(y, x, w, nil, 1, H, V) },
		"linear3":   func() { LinearAuto(y, x, w, nil, 3, H, V) },
		"linear4":   func() { LinearAuto(y, x, w, nil, n, H, V) },
		"attn-kv1": func() {
			AttentionKVForward(y, x, k, v, KVAttnShape{T: 1, Past: past, NH: NH, KVH: NH, HD: HD})
		},
		"attn-kv4": func() {
			AttentionKVForward(y, x, k, v, KVAttnShape{T: n, Past: past, NH: NH, KVH: NH, HD: HD})
		},
	}
	for name, f := range cases {
		f()
		if a := testing.AllocsPerRun(50, f); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}
