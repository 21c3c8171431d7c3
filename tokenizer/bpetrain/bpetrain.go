// Package bpetrain learns a byte-level BPE vocabulary (GPT-2 style: a
// pre-tokenizer regex, ByteLevel, 256 byte tokens plus learned merges) and
// writes it as a Hugging Face tokenizer.json and tokenizer_config.json, so the
// project can ship a verifier whose tokenizer it built itself.
//
// Training works on counts of pre-tokenized words and updates pair counts
// only for the words a merge touches, so a few MB of text trains in seconds.
// Ties between pairs of equal count go to the smaller (left id, right id),
// as in Hugging Face tokenizers, which makes the result deterministic.
package bpetrain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"

	"github.com/speculators-go/speculators/internal/atomicfile"
)

// SplitPattern is the Qwen2 pre-tokenizer regex: contractions, letters with
// one optional leading non-letter, single digits, punctuation runs, newlines
// and spaces.
const SplitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// ChatMLTemplate renders messages as <|im_start|>role\ncontent<|im_end|>\n.
const ChatMLTemplate = "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

// DefaultSpecialTokens are appended after the learned vocabulary: pad/bos,
// the ChatML turn start, and the turn end that is also eos.
var DefaultSpecialTokens = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// Limits on hostile input.
const (
	MaxVocab     = 1 << 20
	maxWordBytes = 256 // longer pre-tokenized pieces are counted as their first bytes' runs only
)

// Options controls training.
type Options struct {
	VocabSize     int      // total size including the 256 bytes and the special tokens
	SpecialTokens []string // appended after the merges; nil means DefaultSpecialTokens
	MinFrequency  int      // pairs seen fewer times are never merged (default 2)
	Progress      io.Writer
}

// Trainer accumulates word counts from text; Train learns the merges.
type Trainer struct {
	re     *regexp2.Regexp
	counts map[string]int64
	bytes  int64
}

// NewTrainer returns an empty trainer.
func NewTrainer() *Trainer {
	return &Trainer{re: regexp2.MustCompile(SplitPattern, regexp2.Unicode), counts: map[string]int64{}}
}

// Add counts the pre-tokenized words of text. Special tokens in the text are
// skipped so they never take part in merges.
func (t *Trainer) Add(text string, special []string) error {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	for _, part := range splitSpecial(text, special) {
		m, err := t.re.FindStringMatch(part)
		for ; m != nil && err == nil; m, err = t.re.FindNextMatch(m) {
			w := m.String()
			if len(w) > maxWordBytes {
				w = w[:maxWordBytes]
			}
			t.counts[w]++
		}
		if err != nil {
			return fmt.Errorf("bpetrain: pre-tokenize: %w", err)
		}
	}
	t.bytes += int64(len(text))
	return nil
}

func splitSpecial(text string, special []string) []string {
	parts := []string{text}
	for _, s := range special {
		var next []string
		for _, p := range parts {
			next = append(next, strings.Split(p, s)...)
		}
		parts = next
	}
	return parts
}

// Words is the number of distinct pre-tokenized words seen.
func (t *Trainer) Words() int { return len(t.counts) }

// Result is a trained vocabulary.
type Result struct {
	Tokens  []string    // byte-level strings by id: 256 bytes, then one per merge
	Merges  [][2]string // in rank order
	Special []string    // ids len(Tokens)..
}

type word struct {
	syms []int32
	n    int64
}

func pk(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Train learns VocabSize − 256 − len(special) merges.
func (t *Trainer) Train(o Options) (*Result, error) {
	special := o.SpecialTokens
	if special == nil {
		special = DefaultSpecialTokens
	}
	if o.MinFrequency <= 0 {
		o.MinFrequency = 2
	}
	if o.VocabSize < 256+len(special) || o.VocabSize > MaxVocab {
		return nil, fmt.Errorf("bpetrain: vocab size %d must be in [%d, %d]", o.VocabSize, 256+len(special), MaxVocab)
	}
	seen := map[string]bool{}
	for _, s := range special {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("bpetrain: special token %q empty or repeated", s)
		}
		seen[s] = true
	}
	res := &Result{Special: special}
	for b := 0; b < 256; b++ {
		res.Tokens = append(res.Tokens, string(byteToRune[b]))
	}
	// Words in a fixed order so the run is deterministic.
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	words := make([]word, len(keys))
	for i, k := range keys {
		s := make([]int32, len(k))
		for j := 0; j < len(k); j++ {
			s[j] = int32(k[j])
		}
		words[i] = word{syms: s, n: t.counts[k]}
	}
	pairs := map[uint64]int64{}
	where := map[uint64][]int32{}
	for wi := range words {
		w := &words[wi]
		for j := 0; j+1 < len(w.syms); j++ {
			p := pk(w.syms[j], w.syms[j+1])
			pairs[p] += w.n
			if l := where[p]; len(l) == 0 || l[len(l)-1] != int32(wi) {
				where[p] = append(l, int32(wi))
			}
		}
	}
	want := o.VocabSize - 256 - len(special)
	mark := make([]int32, len(words))
	for i := range mark {
		mark[i] = -1
	}
	for m := 0; m < want; m++ {
		var best uint64
		var bestN int64
		for p, n := range pairs {
			if n > bestN || (n == bestN && p < best) {
				best, bestN = p, n
			}
		}
		if bestN < int64(o.MinFrequency) {
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "bpetrain: stopped after %d merges: no pair seen %d times\n", m, o.MinFrequency)
			}
			break
		}
		a, b := int32(best>>32), int32(uint32(best))
		id := int32(len(res.Tokens))
		res.Tokens = append(res.Tokens, res.Tokens[a]+res.Tokens[b])
		res.Merges = append(res.Merges, [2]string{res.Tokens[a], res.Tokens[b]})
		for _, wi := range where[best] {
			if mark[wi] == int32(m) {
				continue
			}
			mark[wi] = int32(m)
			w := &words[wi]
			if !hasPair(w.syms, a, b) {
				continue
			}
			for j := 0; j+1 < len(w.syms); j++ {
				p := pk(w.syms[j], w.syms[j+1])
				if pairs[p] -= w.n; pairs[p] <= 0 {
					delete(pairs, p)
				}
			}
			out := w.syms[:0]
			for j := 0; j < len(w.syms); j++ {
				if j+1 < len(w.syms) && w.syms[j] == a && w.syms[j+1] == b {
					out = append(out, id)
					j++
				} else {
					out = append(out, w.syms[j])
				}
			}
			w.syms = out
			for j := 0; j+1 < len(w.syms); j++ {
				p := pk(w.syms[j], w.syms[j+1])
				pairs[p] += w.n
				if w.syms[j] == id || w.syms[j+1] == id {
					if l := where[p]; len(l) == 0 || l[len(l)-1] != int32(wi) {
						where[p] = append(l, int32(wi))
					}
				}
			}
		}
		delete(where, best)
		delete(pairs, best)
		if o.Progress != nil && (m+1)%500 == 0 {
			fmt.Fprintf(o.Progress, "bpetrain: %d/%d merges, last %q (%d)\n", m+1, want, res.Tokens[id], bestN)
		}
	}
	return res, nil
}

func hasPair(s []int32, a, b int32) bool {
	for j := 0; j+1 < len(s); j++ {
		if s[j] == a && s[j+1] == b {
			return true
		}
	}
	return false
}

// byteToRune is GPT-2's bytes_to_unicode table.
var byteToRune [256]rune

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
	}
}

// VocabSize is the total number of ids, special tokens included.
func (r *Result) VocabSize() int { return len(r.Tokens) + len(r.Special) }

type addedJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// TokenizerJSON renders tokenizer.json in the layout Hugging Face tokenizers
// writes for Qwen2 (vocab in id order, merges as "a b" strings).
func (r *Result) TokenizerJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := func(v any) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			panic(err) // strings and plain structs always encode
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	buf.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, s := range r.Special {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n    " + enc(addedJSON{ID: len(r.Tokens) + i, Content: s, Special: true}))
	}
	bl := `{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}`
	buf.WriteString("\n  ],\n  \"normalizer\": {\"type\": \"NFC\"},\n")
	buf.WriteString(`  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ` +
		enc(SplitPattern) + `}, "behavior": "Isolated", "invert": false}, ` + bl + "]},\n")
	buf.WriteString(`  "post_processor": ` + bl + ",\n")
	buf.WriteString(`  "decoder": ` + bl + ",\n")
	buf.WriteString(`  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": {`)
	seen := make(map[string]bool, len(r.Tokens))
	for i, tok := range r.Tokens {
		if seen[tok] {
			return nil, fmt.Errorf("bpetrain: token %q learned twice", tok)
		}
		seen[tok] = true
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "\n    %s: %d", enc(tok), i)
	}
	buf.WriteString("\n  }, \"merges\": [")
	for i, m := range r.Merges {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n    " + enc(m[0]+" "+m[1]))
	}
	buf.WriteString("\n  ]}\n}\n")
	return buf.Bytes(), nil
}

// ConfigJSON renders tokenizer_config.json: ChatML template, bos and pad
// <|endoftext|>, eos <|im_end|> (the first special tokens by default).
func (r *Result) ConfigJSON(maxLen int) ([]byte, error) {
	if len(r.Special) == 0 {
		return nil, errors.New("bpetrain: tokenizer_config.json needs at least one special token")
	}
	pick := func(want string, fallback int) string {
		for _, s := range r.Special {
			if s == want {
				return s
			}
		}
		return r.Special[min(fallback, len(r.Special)-1)]
	}
	dec := map[string]addedJSON{}
	for i, s := range r.Special {
		dec[fmt.Sprint(len(r.Tokens)+i)] = addedJSON{Content: s, Special: true}
	}
	type decEntry struct {
		Content    string `json:"content"`
		LStrip     bool   `json:"lstrip"`
		Normalized bool   `json:"normalized"`
		RStrip     bool   `json:"rstrip"`
		SingleWord bool   `json:"single_word"`
		Special    bool   `json:"special"`
	}
	decOut := map[string]decEntry{}
	for k, v := range dec {
		decOut[k] = decEntry{Content: v.Content, Special: true}
	}
	cfg := map[string]any{
		"add_bos_token":                false,
		"add_eos_token":                false,
		"added_tokens_decoder":         decOut,
		"bos_token":                    pick("<|endoftext|>", 0),
		"eos_token":                    pick("<|im_end|>", 2),
		"pad_token":                    pick("<|endoftext|>", 0),
		"unk_token":                    nil,
		"chat_template":                ChatMLTemplate,
		"clean_up_tokenization_spaces": false,
		"model_max_length":             maxLen,
		"tokenizer_class":              "PreTrainedTokenizerFast",
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(cfg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Save writes tokenizer.json and tokenizer_config.json into dir, each
// atomically.
func (r *Result) Save(dir string, maxLen int) error {
	tj, err := r.TokenizerJSON()
	if err != nil {
		return err
	}
	cj, err := r.ConfigJSON(maxLen)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bpetrain: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return fmt.Errorf("bpetrain: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cj, 0o644); err != nil {
		return fmt.Errorf("bpetrain: %w", err)
	}
	return nil
}
