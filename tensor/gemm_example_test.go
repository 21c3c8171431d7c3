package tensor_test

import (
	"fmt"

	"github.com/speculators-go/speculators/tensor"
)

func ExampleSgemm() {
	// C = A·Bᵀ for A 2×3 and B 2×3 (a linear layer Y = X·Wᵀ).
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 0, 1, 0, 1, 0}
	c := make([]float32, 4)
	tensor.Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c)
	// Output: [4 2 10 5]
}

func ExampleSgemmStridedBatched() {
	// Two heads of width 2 side by side in a (T=2, 2·2) tensor; the scores
	// of head h are Q_h·K_hᵀ, written one T×T block after the other.
	q := []float32{1, 0, 0, 1, 0, 1, 1, 0}
	k := []float32{1, 0, 1, 1, 0, 1, 2, 0}
	s := make([]float32, 2*2*2)
	tensor.SgemmStridedBatched(false, true, 2, 2, 2, 1, q, 4, 2, k, 4, 2, 0, s, 2, 4, 2)
	fmt.Println(s)
	// Output: [1 0 0 1 1 0 1 2]
}
