package testckpt

import (
	"io"
	"testing"
)

// BenchmarkGenerate measures the weight generator alone (the lm_head of
// the published config, 32000x4096 bf16 = 262 MB).
func BenchmarkGenerate(b *testing.B) {
	ts, err := Tensors(Published())
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range ts {
		if t.Name == "lm_head.weight" {
			b.SetBytes(t.NumBytes())
			b.ReportAllocs()
			for b.Loop() {
				if err := t.Write(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
