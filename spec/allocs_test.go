package spec

import (
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
)

// TestGenerateAllocsPerRound: once warm, a speculative round (draft,
// verify, accept, append) allocates nothing; what a Generate call
// allocates does not grow with the tokens it decodes, except the result
// slice doubling.
func TestGenerateAllocsPerRound(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	v, _ := loadTiny(t, testmodel.Tiny("llama"), "verifier")
	e3, err := NewEagle3(randomEagle3(t, v, []int{1, 2, 4}, 96), v.N(), 256)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	for _, dc := range []struct {
		name string
		d    Drafter
	}{{"eagle3", e3}, {"lm", NewLM(v, v.V())}} {
		eng, err := New(v.NewState(1), dc.d)
		if err != nil {
			t.Fatal(err)
		}
		allocs := func(n int) (float64, int) {
			var rounds int
			a := testing.AllocsPerRun(5, func() {
				_, st, err := eng.Generate(prompt, Options{K: 3, MaxTokens: n})
				if err != nil {
					t.Fatal(err)
				}
				rounds = st.Drafts
			})
			return a, rounds
		}
		short, r0 := allocs(8)
		long, r1 := allocs(120)
		t.Logf("%s: %v allocations for %d rounds, %v for %d", dc.name, short, r0, long, r1)
		// 8 → 120 tokens: the result slice doubles at most 5 more times.
		if long-short > 5 {
			t.Errorf("%s: %v allocations for %d rounds, %v for %d: rounds allocate", dc.name, short, r0, long, r1)
		}
	}
}
