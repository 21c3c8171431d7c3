package dataset

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"testing"
)

// permGolden holds numpy.random.default_rng(seed).permutation(n) for a few
// seeds and sizes, made by testdata/gen_shuffle.py.
type permGolden struct {
	Seed uint64 `json:"seed"`
	N    int    `json:"n"`
	Perm []int  `json:"perm"`
}

func TestPermutationMatchesNumPy(t *testing.T) {
	data, err := os.ReadFile("testdata/shuffle_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []permGolden
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if got := permutation(c.N, c.Seed); !slices.Equal(got, c.Perm) {
			t.Errorf("permutation(%d, seed %d) = %v..., want %v...", c.N, c.Seed, got[:min(8, len(got))], c.Perm[:min(8, len(c.Perm))])
		}
	}
	// A large size, checked live when numpy is at hand.
	py := "/usr/bin/python3"
	if testing.Short() {
		t.Skip("-short: the live numpy check is run by the full test")
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("no numpy: large permutation not checked")
	}
	out, err := exec.Command(py, "-c", "import numpy as np, json; print(json.dumps(np.random.default_rng(123456789012).permutation(200003).tolist()))").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	json.Unmarshal(out, &want)
	if got := permutation(200003, 123456789012); !slices.Equal(got, want) {
		t.Error("permutation(200003, 123456789012) differs from numpy")
	}
}
