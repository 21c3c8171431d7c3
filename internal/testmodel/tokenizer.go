package testmodel

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/speculators-go/speculators/safetensors"
)

// The tokenizer is GPT-2 style byte-level BPE: ids 0..255 are the bytes
// (in byte order, spelled in the byte-level alphabet), then one token per
// merge, then the special tokens.
var merges = [][2]string{
	{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"e", "r"}, {"Ġ", "a"},
	{"o", "n"}, {"Ġ", "s"}, {"r", "e"}, {"a", "t"}, {"Ġ", "w"}, {"o", "r"},
}

// Special token ids of the test tokenizer.
const (
	EndOfText = 256 + 12 // <|endoftext|>
	IMStart   = 257 + 12 // <|im_start|>
	IMEnd     = 258 + 12 // <|im_end|>, the eos_token
)

// ChatTemplate is the ChatML template written to tokenizer_config.json.
const ChatTemplate = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// TokenizerVocab is the number of token ids of the test tokenizer.
func TokenizerVocab() int { return IMEnd + 1 }

// byteChars is GPT-2's bytes_to_unicode: printable bytes map to themselves,
// the others to code points from 256 up.
func byteChars() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// TokenizerJSON returns the bytes of tokenizer.json and tokenizer_config.json.
func TokenizerJSON() (tokJSON, cfgJSON []byte, err error) {
	if len(merges) != EndOfText-256 {
		panic("testmodel: merge table and special ids disagree")
	}
	bc := byteChars()
	vocab := make(map[string]int, TokenizerVocab())
	for b := 0; b < 256; b++ {
		vocab[string(bc[b])] = b
	}
	ms := make([]string, len(merges))
	for i, m := range merges {
		if _, ok := vocab[m[0]]; !ok {
			return nil, nil, fmt.Errorf("testmodel: merge %v: no token %q", m, m[0])
		}
		vocab[m[0]+m[1]] = 256 + i
		ms[i] = m[0] + " " + m[1]
	}
	specials := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
	var added []map[string]any
	decoder := map[string]any{}
	for i, s := range specials {
		id := EndOfText + i
		added = append(added, map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
		decoder[fmt.Sprint(id)] = map[string]any{"content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}
	}
	tok := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false,
			"trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": false,
			"trim_offsets": false, "use_regex": true},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true,
			"trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil,
			"continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false,
			"byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": ms},
	}
	cfg := map[string]any{
		"add_prefix_space":             false,
		"added_tokens_decoder":         decoder,
		"bos_token":                    nil,
		"eos_token":                    "<|im_end|>",
		"pad_token":                    "<|endoftext|>",
		"unk_token":                    nil,
		"chat_template":                ChatTemplate,
		"clean_up_tokenization_spaces": false,
		"model_max_length":             2048,
		"tokenizer_class":              "PreTrainedTokenizerFast",
		"errors":                       "replace",
		"split_special_tokens":         false,
		"additional_special_tokens":    []string{"<|im_start|>", "<|im_end|>"},
	}
	if tokJSON, err = json.MarshalIndent(tok, "", "  "); err != nil {
		return nil, nil, err
	}
	if cfgJSON, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		return nil, nil, err
	}
	return tokJSON, cfgJSON, nil
}

// WriteTokenizer writes tokenizer.json and tokenizer_config.json into dir.
func WriteTokenizer(dir string) error {
	tj, cj, err := TokenizerJSON()
	if err != nil {
		return err
	}
	if err := safetensors.WriteAtomic(filepath.Join(dir, "tokenizer.json"), tj); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if err := safetensors.WriteAtomic(filepath.Join(dir, "tokenizer_config.json"), cj); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	return nil
}
