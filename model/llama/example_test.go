package llama_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/llama"
)

// A prefill that captures the EAGLE-3 aux states, a draft of three tokens
// verified in one pass, and a rollback of the two rejected ones.
func Example() {
	dir, _ := os.MkdirTemp("", "llama")
	defer os.RemoveAll(dir)
	if err := testmodel.Write(filepath.Join(dir, "m"), testmodel.Tiny("qwen3")); err != nil {
		panic(err)
	}
	m, err := llama.Load(filepath.Join(dir, "m"))
	if err != nil {
		panic(err)
	}
	st := m.NewState(1)
	aux := append(m.DefaultAuxLayers(), m.N())
	out, err := st.ForwardSeq(0, []int32{10, 11, 12, 13}, llama.ForwardOptions{Logits: llama.LogitsLast, Capture: aux})
	if err != nil {
		panic(err)
	}
	fmt.Println("aux ids", aux, "hidden", len(out.Hidden), "= T·A·H =", 4*len(aux)*m.H())
	// Verify three draft tokens: logits for each position in one pass.
	out, _ = st.ForwardSeq(0, []int32{20, 21, 22}, llama.ForwardOptions{Logits: llama.LogitsAll})
	fmt.Println("cached", st.Len(0), "logit rows", len(out.Logits)/m.V())
	// Only the first draft token was accepted: roll the other two back.
	_ = st.Truncate(0, 5)
	fmt.Println("cached", st.Len(0))
	// Output:
	// aux ids [2 2 1 4] hidden 1024 = T·A·H = 1024
	// cached 7 logit rows 3
	// cached 5
}
