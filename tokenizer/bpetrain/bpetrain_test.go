package bpetrain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/speculators-go/speculators/tokenizer"
)

const sample = `The quick brown fox jumps over the lazy dog. It's 2026, and we're
testing: does   the tokenizer   round-trip? Ünïcödé, 日本語, emoji 🙂 and tabs	too.
<|im_start|>user
Tell me a fortune about computers.<|im_end|>
`

func train(t *testing.T, text string, vocab int) *Result {
	t.Helper()
	tr := NewTrainer()
	for range 20 {
		if err := tr.Add(text, DefaultSpecialTokens); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tr.Train(Options{VocabSize: vocab})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The written files load in the tokenizer package, encode to learned merges,
// keep special tokens whole and decode back to the input.
func TestTrainLoadRoundTrip(t *testing.T) {
	res := train(t, sample, 400)
	dir := t.TempDir()
	if err := res.Save(dir, 512); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != res.VocabSize() {
		t.Fatalf("vocab %d, want %d", tok.VocabSize(), res.VocabSize())
	}
	ids := tok.Encode(sample, true)
	if got := tok.Decode(ids, false); got != sample {
		t.Fatalf("round trip:\n%q\n%q", got, sample)
	}
	// Trained on this text, the encoding must be far shorter than its bytes.
	if len(ids)*3 > len(sample) {
		t.Fatalf("%d ids for %d bytes: merges not applied", len(ids), len(sample))
	}
	start, _ := tok.TokenToID("<|im_start|>")
	end, _ := tok.TokenToID("<|im_end|>")
	if start != res.VocabSize()-2 || end != res.VocabSize()-1 || tok.EOS() != end || tok.Pad() != res.VocabSize()-3 {
		t.Fatalf("special ids start %d end %d eos %d pad %d", start, end, tok.EOS(), tok.Pad())
	}
	n := 0
	for _, id := range ids {
		if id == start || id == end {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("special tokens split: %d of 2 found in %v", n, ids)
	}
	// Every merge must be reachable: encoding a merged token's own text gives it back.
	for id := 256; id < len(res.Tokens); id += 7 {
		s := tok.Decode([]int{id}, false)
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			continue // part of a multi-byte character
		}
		if got := tok.Encode(s, false); len(got) != 1 || got[0] != id {
			// A token can span a pre-tokenizer boundary only if it never did in training.
			t.Errorf("token %d %q encodes to %v", id, s, got)
		}
	}
}

// Equal inputs give byte-identical files; ties break on the smaller pair.
func TestDeterministic(t *testing.T) {
	a, _ := train(t, sample, 350).TokenizerJSON()
	b, _ := train(t, sample, 350).TokenizerJSON()
	if string(a) != string(b) {
		t.Fatal("two runs differ")
	}
	// words "ab" and "cd" both occur twice: the first merge must be a+b (smaller ids).
	tr := NewTrainer()
	for _, w := range []string{"cd", "ab", "cd", "ab"} {
		tr.Add(w, nil)
	}
	res, err := tr.Train(Options{VocabSize: 260, SpecialTokens: []string{"<s>"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Merges[0] != [2]string{"a", "b"} {
		t.Fatalf("first merge %v", res.Merges[0])
	}
}

func TestBadOptions(t *testing.T) {
	tr := NewTrainer()
	for _, o := range []Options{{VocabSize: 10}, {VocabSize: MaxVocab + 1}, {VocabSize: 300, SpecialTokens: []string{"x", "x"}}, {VocabSize: 300, SpecialTokens: []string{""}}} {
		if _, err := tr.Train(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestChatTemplateFile(t *testing.T) {
	res := train(t, sample, 300)
	dir := t.TempDir()
	if err := res.Save(dir, 128); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"chat_template": "{%- for message in messages %}`) {
		t.Fatalf("no chat template:\n%s", b)
	}
}
