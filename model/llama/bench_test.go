package llama

import (
	"os"
	"testing"

	"github.com/speculators-go/speculators/internal/testmodel"
)

// BenchmarkDecode times one decode step of the model in $LLAMA_BENCH_MODEL
// (e.g. written by `speculators bench llama --make-model DIR`), or of a tiny
// test model when unset, at context 128.
func BenchmarkDecode(b *testing.B) {
	m := benchModel(b)
	s := m.NewState(1)
	s.Reserve(0, 4096)
	if _, err := s.ForwardSeq(0, seqIDs(128, 1, m.V()), ForwardOptions{}); err != nil {
		b.Fatal(err)
	}
	tok := []int32{7}
	b.ReportAllocs()
	for b.Loop() {
		if s.Len(0) > 4000 {
			s.Truncate(0, 128)
		}
		if _, err := s.ForwardSeq(0, tok, ForwardOptions{Logits: LogitsLast}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrefill times a 128-token prefill.
func BenchmarkPrefill(b *testing.B) {
	m := benchModel(b)
	s := m.NewState(1)
	ids := seqIDs(128, 1, m.V())
	b.ReportAllocs()
	for b.Loop() {
		s.Reset()
		if _, err := s.ForwardSeq(0, ids, ForwardOptions{Logits: LogitsLast}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchModel(b *testing.B) *Model {
	if dir := os.Getenv("LLAMA_BENCH_MODEL"); dir != "" {
		m, err := Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	return loadTiny(b, testmodel.Tiny("llama"))
}

// BenchmarkVerify times the verification pass of speculative decoding:
// five draft tokens appended at context 128 with logits for each, then
// rolled back.
func BenchmarkVerify(b *testing.B) {
	m := benchModel(b)
	s := m.NewState(1)
	s.Reserve(0, 256)
	if _, err := s.ForwardSeq(0, seqIDs(128, 1, m.V()), ForwardOptions{}); err != nil {
		b.Fatal(err)
	}
	draft := seqIDs(5, 2, m.V())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ForwardSeq(0, draft, ForwardOptions{Logits: LogitsAll, Capture: []int{1, 2, 3}}); err != nil {
			b.Fatal(err)
		}
		s.Truncate(0, 128)
	}
}
