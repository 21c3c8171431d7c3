package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkBoundaryRowsQwen3 renders and masks a 4-exchange conversation
// with the real Qwen3 template and tokenizer.
func BenchmarkBoundaryRowsQwen3(b *testing.B) {
	r := localRenderer(b, "qwen3", nil)
	var msgs []json.RawMessage
	for i := 0; i < 4; i++ {
		u, _ := json.Marshal(map[string]string{"role": "user", "content": fmt.Sprintf("Question %d: %s", i, strings.Repeat("how does speculative decoding work? ", 8))})
		a, _ := json.Marshal(map[string]string{"role": "assistant", "content": strings.Repeat("The draft proposes tokens and the verifier accepts a prefix. ", 20)})
		msgs = append(msgs, u, a)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BoundaryRows(context.Background(), r, msgs, nil, 8192); err != nil {
			b.Fatal(err)
		}
	}
}
