package tensor

import (
	"fmt"
	"testing"
)

type attnCase struct {
	name              string
	T, steps, NH, KVH int
	HD, window        int
	doc               []int32
}

func docIDs(lengths []int, T int) []int32 {
	d := make([]int32, 0, T)
	for i, l := range lengths {
		for range l {
			d = append(d, int32(i))
		}
	}
	for len(d) < T {
		d = append(d, -1)
	}
	return d
}

func attnCases() []attnCase {
	return []attnCase{
		{"causal", 9, 1, 2, 2, 8, 0, nil},
		{"gqa-multiblock", 150, 1, 4, 2, 16, 0, nil},
		{"docs-padding", 140, 1, 2, 1, 8, 0, docIDs([]int{30, 1, 70}, 140)},
		{"window", 200, 1, 2, 2, 8, 37, docIDs([]int{150, 40}, 200)},
		{"ttt3", 70, 3, 4, 2, 8, 0, docIDs([]int{20, 45}, 70)},
		{"ttt2-window-docs", 133, 2, 2, 1, 8, 16, docIDs([]int{64, 1, 60}, 133)},
		{"window-nodoc-gqa", 100, 1, 4, 1, 8, 10, nil},
		{"unsorted-docs", 40, 2, 2, 2, 8, 0, append(docIDs([]int{10, 10}, 20), docIDs([]int{10, 10}, 20)...)},
	}
}

func (c attnCase) shape() AttnShape {
	return AttnShape{T: c.T, S: c.T * c.steps, NH: c.NH, KVH: c.KVH, HD: c.HD, Window: c.window, Doc: c.doc}
}

func TestAttentionMatchesReference(t *testing.T) {
	for _, blocks := range [][2]int{{attnBQ, attnBK}, {16, 32}, {32, 16}} {
		oq, ok := attnBQ, attnBK
		attnBQ, attnBK = blocks[0], blocks[1]
		testAttentionMatchesReference(t, fmt.Sprintf("bq%d-bk%d-", blocks[0], blocks[1]))
		attnBQ, attnBK = oq, ok
	}
}

func testAttentionMatchesReference(t *testing.T, prefix string) {
	for _, c := range attnCases() {
		t.Run(prefix+c.name, func(t *testing.T) {
			r := newRand(uint64(c.T))
			sh := c.shape()
			q := randn(r, c.T*c.NH*c.HD, 1)
			k := randn(r, sh.S*c.KVH*c.HD, 1)
			v := randn(r, sh.S*c.KVH*c.HD, 1)
			out, outRef := make([]float32, len(q)), make([]float32, len(q))
			lse := make([]float32, c.NH*c.T)
			AttentionForward(out, lse, q, k, v, sh)
			AttentionRef(outRef, q, k, v, sh)
			checkClose(t, "out", out, outRef, 2e-5, 2e-4)
			dout := randn(r, len(q), 1)
			dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
			dqr, dkr, dvr := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
			AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, sh)
			AttentionBackwardRef(dqr, dkr, dvr, dout, q, k, v, sh)
			checkClose(t, "dq", dq, dqr, 5e-5, 5e-4)
			checkClose(t, "dk", dk, dkr, 5e-5, 5e-4)
			checkClose(t, "dv", dv, dvr, 5e-5, 5e-4)
		})
	}
}

// TestAttentionMaskSpec checks the reference mask itself against the
// training-spec §5.4 example (documents [1,2,3]) and the diagonal rule.
func TestAttentionMaskSpec(t *testing.T) {
	sh := AttnShape{T: 6, S: 18, NH: 1, KVH: 1, HD: 1, Doc: docIDs([]int{1, 2, 3}, 6)}
	want := []string{"100000", "010000", "011000", "000100", "000110", "000111"}
	for q := 0; q < 6; q++ {
		row := ""
		for kv := 0; kv < 6; kv++ {
			if sh.allowed(q, kv) {
				row += "1"
			} else {
				row += "0"
			}
		}
		if row != want[q] {
			t.Errorf("row %d = %s, want %s", q, row, want[q])
		}
	}
	// Extended blocks: probabilities are non-zero exactly on kv mod T == q.
	q, k, v := make([]float32, 6), make([]float32, 18), make([]float32, 18)
	probs := AttentionRef(make([]float32, 6), q, k, v, sh)
	for qi := 0; qi < 6; qi++ {
		for kv := 6; kv < 18; kv++ {
			if got := probs[qi*18+kv] != 0; got != (kv%6 == qi) {
				t.Errorf("q %d kv %d: visible=%v", qi, kv, got)
			}
		}
	}
}

func TestAttentionGradFD(t *testing.T) {
	c := attnCase{"fd", 7, 2, 2, 1, 4, 3, docIDs([]int{4, 2}, 7)}
	r := newRand(11)
	sh := c.shape()
	q := randn(r, c.T*c.NH*c.HD, 1)
	k := randn(r, sh.S*c.KVH*c.HD, 1)
	v := randn(r, sh.S*c.KVH*c.HD, 1)
	rr := randn(r, len(q), 1)
	out, lse := make([]float32, len(q)), make([]float32, c.NH*c.T)
	f := func() float64 { AttentionForward(out, lse, q, k, v, sh); return weighted(rr, out) }
	f()
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
	AttentionBackward(dq, dk, dv, rr, out, lse, q, k, v, sh)
	checkGrad(t, "dq", q, dq, f, 1e-2, 2e-3, 1e-2, 100)
	checkGrad(t, "dk", k, dk, f, 1e-2, 2e-3, 1e-2, 100)
	checkGrad(t, "dv", v, dv, f, 1e-2, 2e-3, 1e-2, 100)
}

func BenchmarkAttention(b *testing.B) {
	for _, T := range []int{512} {
		r := newRand(1)
		sh := AttnShape{T: T, S: T, NH: 8, KVH: 8, HD: 64}
		q, k, v := randn(r, T*512, 1), randn(r, T*512, 1), randn(r, T*512, 1)
		out, lse := make([]float32, T*512), make([]float32, 8*T)
		b.Run(fmt.Sprintf("fwd-T%d", T), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				AttentionForward(out, lse, q, k, v, sh)
			}
		})
		dq, dk, dv := make([]float32, T*512), make([]float32, T*512), make([]float32, T*512)
		b.Run(fmt.Sprintf("bwd-T%d", T), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				AttentionBackward(dq, dk, dv, q, out, lse, q, k, v, sh)
			}
		})
	}
}

func TestDocIDsFromPositions(t *testing.T) {
	cases := []struct{ pos, want []int32 }{
		{[]int32{0, 1, 0, 1, 2, 3, 4, 5}, []int32{0, 0, 1, 1, 1, 1, 1, 1}},
		{[]int32{1, 2, 3, 1, 2, 1}, []int32{0, 0, 0, 1, 1, 2}},
		{[]int32{0, 0, 0}, []int32{0, 1, 2}},
		{nil, nil},
	}
	for _, c := range cases {
		got := make([]int32, len(c.pos))
		DocIDsFromPositions(got, c.pos)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("positions %v: docs %v, want %v", c.pos, got, c.want)
		}
	}
}
