package tensor_test

import (
	"fmt"

	"github.com/speculators-go/speculators/tensor"
)

// One TTT step's loss: the masked mean of the per-position KL divergence
// between the target and draft distributions, with its logits gradient.
func ExampleMaskedLoss() {
	T, V := 2, 3
	logits := []float32{1, 2, 3, 0, 0, 0}  // draft (T, V)
	targets := []float32{1, 2, 3, 3, 0, 0} // verifier (T, V)
	mask := []float32{1, 1}
	dlogits := make([]float32, T*V)
	loss := tensor.MaskedLoss(tensor.LossKL, dlogits, logits, targets, mask, 1, T, V, 0, make([]float32, 2*T))
	fmt.Printf("loss %.4f\n", loss)
	fmt.Printf("dlogits row 0 %.4f\n", dlogits[:3])
	// Output:
	// loss 0.3660
	// dlogits row 0 [0.0000 0.0000 0.0000]
}

// Causal attention over two packed documents: query 2 (first token of the
// second document) sees only itself, so its output is its own value.
func ExampleAttentionForward() {
	sh := tensor.AttnShape{T: 3, S: 3, NH: 1, KVH: 1, HD: 2, Doc: []int32{0, 0, 1}}
	q := []float32{1, 0, 0, 1, 1, 1}
	k := []float32{1, 0, 0, 1, 1, 1}
	v := []float32{1, 2, 3, 4, 5, 6}
	out, lse := make([]float32, 6), make([]float32, 3)
	tensor.AttentionForward(out, lse, q, k, v, sh)
	fmt.Println(out[4:6])
	// Output:
	// [5 6]
}
