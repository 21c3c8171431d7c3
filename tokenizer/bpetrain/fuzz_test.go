package bpetrain

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/speculators-go/speculators/tokenizer"
)

// Whatever the text, training gives a tokenizer.json that loads and encodes
// the (NFC-normalized) text back to itself.
func FuzzTrainRoundTrip(f *testing.F) {
	for _, s := range []string{sample, "", "aaaa", "<|im_end|><|im_end|>", "\xff\xfe", "日本 日本 日本", "'s's's", "\r\n\r\n  \t"} {
		f.Add(s, uint16(300))
	}
	f.Fuzz(func(t *testing.T, text string, vocab uint16) {
		if len(text) > 4096 {
			return
		}
		tr := NewTrainer()
		tr.Add(text, DefaultSpecialTokens)
		tr.Add(text, DefaultSpecialTokens)
		res, err := tr.Train(Options{VocabSize: 259 + int(vocab%200)})
		if err != nil {
			t.Fatal(err)
		}
		tj, err := res.TokenizerJSON()
		if err != nil {
			t.Fatal(err)
		}
		cj, err := res.ConfigJSON(64)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokenizer.Load(tj, cj)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(text) {
			return
		}
		want := norm.NFC.String(text)
		if got := tok.Decode(tok.Encode(text, false), false); got != want {
			t.Fatalf("round trip %q -> %q", want, got)
		}
	})
}
