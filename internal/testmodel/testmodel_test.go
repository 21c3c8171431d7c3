package testmodel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/tokenizer"
)

func TestTokenizerLoads(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTokenizer(dir); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != TokenizerVocab() {
		t.Errorf("vocab %d, want %d", tok.VocabSize(), TokenizerVocab())
	}
	if tok.EOS() != IMEnd {
		t.Errorf("eos %d, want %d", tok.EOS(), IMEnd)
	}
	text := "<|im_start|>user\nthe other the water<|im_end|>"
	ids := tok.Encode(text, false)
	if ids[0] != IMStart || ids[len(ids)-1] != IMEnd {
		t.Errorf("specials not matched: %v", ids)
	}
	the, _ := tok.TokenToID(spell(" the"))
	found := false
	for _, id := range ids {
		found = found || id == the
	}
	if the != 256+2 || !found {
		t.Errorf("merge Ġthe (id %d) not used in %v", the, ids)
	}
	if got := tok.Decode(ids, false); got != text {
		t.Errorf("decode %q, want %q", got, text)
	}
	tmpl, err := chat.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := chat.ParseMessages([]byte(`[{"role":"user","content":"hi"}]`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tmpl.Render(msgs, chat.RenderOptions{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"; s != want {
		t.Errorf("chat %q, want %q", s, want)
	}
}

func TestWriteDeterministicAndSharded(t *testing.T) {
	for _, arch := range []string{"llama", "mistral", "qwen2", "qwen3"} {
		a, b := t.TempDir(), t.TempDir()
		o := Tiny(arch)
		if err := Write(a, o); err != nil {
			t.Fatal(err)
		}
		if err := Write(b, o); err != nil {
			t.Fatal(err)
		}
		x, _ := os.ReadFile(filepath.Join(a, "model.safetensors"))
		y, _ := os.ReadFile(filepath.Join(b, "model.safetensors"))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: weights not deterministic", arch)
		}
		o.ShardSize = 40000
		o.DType = safetensors.BF16
		c := t.TempDir()
		if err := Write(c, o); err != nil {
			t.Fatal(err)
		}
		ck, err := safetensors.OpenDir(c)
		if err != nil {
			t.Fatal(err)
		}
		if !ck.Sharded() {
			t.Errorf("%s: not sharded", arch)
		}
		ck.Close()
	}
}

// spell renders bytes in the byte-level alphabet (for tests).
func spell(s string) string {
	bc := byteChars()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(bc[s[i]])
	}
	return b.String()
}
