package gemmbench

import (
	"strings"
	"testing"
	"time"

	"github.com/speculators-go/speculators/tensor"
	"github.com/speculators-go/speculators/tensor/openblas"
)

func TestMedians(t *testing.T) {
	rs := []Result{
		{Impl: "go", Shape: "s", GFlops: 3, GFlopsCPU: 30},
		{Impl: "go", Shape: "s", GFlops: 1, GFlopsCPU: 10},
		{Impl: "x", Shape: "s", GFlops: 5},
		{Impl: "go", Shape: "s", GFlops: 2, GFlopsCPU: 40},
		{Impl: "x", Shape: "s", GFlops: 7},
	}
	got := Medians(rs)
	want := []Median{{"go", "s", 2, 30, 3}, {"x", "s", 6, 0, 2}}
	if len(got) != len(want) {
		t.Fatalf("Medians = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Medians[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestImpls(t *testing.T) {
	ims, err := Impls([]string{"go", "go-go", "gonum"})
	if err != nil || len(ims) != 3 {
		t.Fatalf("Impls = %v, %v", ims, err)
	}
	if _, err := Impls([]string{"go-nosuch"}); err == nil {
		t.Error("unknown kernel accepted")
	}
	_, err = Impls([]string{"openblas"})
	if openblas.Available != (err == nil) {
		t.Errorf("openblas: Available=%v but err=%v", openblas.Available, err)
	}
	if err != nil && !strings.Contains(err.Error(), "-tags openblas") {
		t.Errorf("error %q does not say how to get openblas", err)
	}
}

// TestRunAgrees runs every implementation on one shape and checks that
// each measurement is reported, interleaved, and that the products agree.
func TestRunAgrees(t *testing.T) {
	ims, err := Impls(ImplNames())
	if err != nil {
		t.Fatal(err)
	}
	sh := tensor.GemmShape{Name: "t", TransB: true, M: 30, N: 40, K: 50}
	var order []string
	Run(Options{Shapes: []tensor.GemmShape{sh}, Impls: ims, Runs: 2, MinTime: time.Millisecond, Threads: 1}, func(r Result) {
		if r.GFlops <= 0 || r.M != 30 || r.N != 40 || r.K != 50 || r.Trans != "NT" {
			t.Errorf("bad result %+v", r)
		}
		order = append(order, r.Impl)
	})
	if len(order) != 2*len(ims) {
		t.Fatalf("got %d results, want %d", len(order), 2*len(ims))
	}
	if len(ims) > 1 && order[0] == order[len(ims)] {
		t.Errorf("run order not rotated: %v", order)
	}
	// Same inputs, same answer (up to rounding) from every implementation.
	na, lda, nb, ldb, nc, ldc := sh.Lens()
	a, b := make([]float32, na), make([]float32, nb)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5) - 2
	}
	want := make([]float32, nc)
	tensor.SgemmRef(sh.TransA, sh.TransB, sh.M, sh.N, sh.K, 1, a, lda, b, ldb, 0, want, ldc)
	for _, im := range ims {
		got := make([]float32, nc)
		im.Fn(sh.TransA, sh.TransB, sh.M, sh.N, sh.K, 1, a, lda, b, ldb, 0, got, ldc)
		for i := range got {
			if got[i] != want[i] { // small integers: exact in float32
				t.Fatalf("%s: C[%d] = %g, want %g", im.Name, i, got[i], want[i])
			}
		}
	}
}
