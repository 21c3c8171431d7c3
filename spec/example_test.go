package spec_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/spec"
)

// Speculative greedy decoding with a draft LM (here the verifier itself, so
// every draft is accepted): four tokens per verifier pass at k = 3.
func Example() {
	dir, _ := os.MkdirTemp("", "spec-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "verifier")
	if err := testmodel.Write(path, testmodel.Tiny("llama")); err != nil {
		panic(err)
	}
	v, err := llama.Load(path)
	if err != nil {
		panic(err)
	}
	eng, err := spec.New(v.NewState(1), spec.NewLM(v, v.V()))
	if err != nil {
		panic(err)
	}
	out, st, err := eng.Generate([]int32{1, 2, 3}, spec.Options{K: 3, MaxTokens: 13})
	if err != nil {
		panic(err)
	}
	fmt.Println("tokens:", len(out), "verifier passes:", st.Drafts, "τ:", st.Tau(), "per position:", st.PerPosition())
	// Output:
	// tokens: 13 verifier passes: 3 τ: 4 per position: [1 1 1]
}
