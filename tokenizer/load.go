package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/speculators-go/speculators/internal/boundedfile"
)

// Size bounds for hostile input. The largest real tokenizer.json files
// (Gemma, 256k vocab) are about 35 MB.
const (
	maxTokenizerJSON = 512 << 20
	maxConfigJSON    = 64 << 20
	maxVocab         = 1 << 24
	maxTokenBytes    = 1 << 16
	maxNesting       = 32
)

// fileJSON mirrors the parts of tokenizer.json that encoding uses.
type fileJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         modelJSON        `json:"model"`
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

// componentJSON is the union of the fields of every normalizer,
// pre-tokenizer, post-processor and decoder we support; "type" says which.
type componentJSON struct {
	Type string `json:"type"`

	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`

	Pattern  *patternJSON `json:"pattern"`
	Content  *string      `json:"content"`
	Prepend  *string      `json:"prepend"`
	Behavior string       `json:"behavior"`
	Invert   bool         `json:"invert"`

	AddPrefixSpace *bool  `json:"add_prefix_space"`
	TrimOffsets    *bool  `json:"trim_offsets"`
	UseRegex       *bool  `json:"use_regex"`
	Replacement    string `json:"replacement"`
	PrependScheme  string `json:"prepend_scheme"`
	Split          *bool  `json:"split"`

	IndividualDigits bool `json:"individual_digits"`
	StripLeft        bool `json:"strip_left"`
	StripRight       bool `json:"strip_right"`
	Start            int  `json:"start"`
	Stop             int  `json:"stop"`

	Single        []templateItemJSON          `json:"single"`
	Pair          []templateItemJSON          `json:"pair"`
	SpecialTokens map[string]templateSpecJSON `json:"special_tokens"`
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type templateItemJSON struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"Sequence"`
}

type templateSpecJSON struct {
	ID     string   `json:"id"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// configJSON mirrors tokenizer_config.json and special_tokens_map.json.
// Token fields are either a string or an AddedToken object.
type configJSON struct {
	TokenizerClass            string       `json:"tokenizer_class"`
	BOSToken                  tokenField   `json:"bos_token"`
	EOSToken                  tokenField   `json:"eos_token"`
	PadToken                  tokenField   `json:"pad_token"`
	UnkToken                  tokenField   `json:"unk_token"`
	AddBOSToken               *bool        `json:"add_bos_token"`
	AddEOSToken               *bool        `json:"add_eos_token"`
	CleanUpTokenizationSpaces *bool        `json:"clean_up_tokenization_spaces"`
	AdditionalSpecialTokens   []tokenField `json:"additional_special_tokens"`
}

// tokenField accepts "tok", null, or {"content": "tok", ...}.
type tokenField struct {
	Set     bool
	Content string
}

func (t *tokenField) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = tokenField{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = tokenField{Set: true, Content: s}
		return nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("token must be a string or an object with \"content\": %w", err)
	}
	if obj.Content == nil {
		return errors.New("token object has no \"content\"")
	}
	*t = tokenField{Set: true, Content: *obj.Content}
	return nil
}

// LoadDir loads the tokenizer of a model directory: tokenizer.json, plus
// tokenizer_config.json and special_tokens_map.json when present (the latter
// wins where both name a token, as in transformers).
func LoadDir(dir string) (*Tokenizer, error) {
	p := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %s has no tokenizer.json (tokenizer.model or vocab.json/merges.txt alone are not supported; save the tokenizer with a fast tokenizer to get one)", dir)
	}
	tj, err := readBounded(p, maxTokenizerJSON)
	if err != nil {
		return nil, err
	}
	var cfgs [][]byte
	var names []string
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		p := filepath.Join(dir, name)
		b, err := readBounded(p, maxConfigJSON)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cfgs = append(cfgs, b)
		names = append(names, p)
	}
	t, err := load(tj, cfgs, names)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", dir, err)
	}
	return t, nil
}

// LoadFile loads a tokenizer.json file with an optional tokenizer_config.json
// (configPath may be empty).
func LoadFile(tokenizerPath, configPath string) (*Tokenizer, error) {
	tj, err := readBounded(tokenizerPath, maxTokenizerJSON)
	if err != nil {
		return nil, err
	}
	var cfgs [][]byte
	var names []string
	if configPath != "" {
		b, err := readBounded(configPath, maxConfigJSON)
		if err != nil {
			return nil, err
		}
		cfgs, names = [][]byte{b}, []string{configPath}
	}
	t, err := load(tj, cfgs, names)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", tokenizerPath, err)
	}
	return t, nil
}

// Load builds a tokenizer from the bytes of tokenizer.json and, optionally,
// tokenizer_config.json (nil when absent).
func Load(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	var cfgs [][]byte
	var names []string
	if configJSON != nil {
		cfgs, names = [][]byte{configJSON}, []string{"tokenizer_config.json"}
	}
	t, err := load(tokenizerJSON, cfgs, names)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	b, err := boundedfile.Read(path, limit)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return b, nil
}

// load assembles a Tokenizer. cfgs are applied in order, later files
// overriding earlier ones field by field.
func load(tj []byte, cfgs [][]byte, names []string) (*Tokenizer, error) {
	var f fileJSON
	if fastFile(tj, &f) != nil {
		f = fileJSON{}
		if err := json.Unmarshal(tj, &f); err != nil {
			return nil, fmt.Errorf("tokenizer.json: %w", err)
		}
	}
	var cfg configJSON
	for i, b := range cfgs {
		var c configJSON
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		mergeConfig(&cfg, &c)
	}

	t := &Tokenizer{bos: -1, eos: -1, pad: -1, unk: -1, pool: make(chan *encoder, 2*runtime.GOMAXPROCS(0))}
	m, err := buildBPE(&f.Model)
	if err != nil {
		return nil, err
	}
	t.model = m

	if err := t.buildAddedTokens(f.AddedTokens); err != nil {
		return nil, err
	}
	if t.normalizer, err = buildNormalizer(f.Normalizer, 0); err != nil {
		return nil, err
	}
	var norm func(string) string
	if t.normalizer != nil {
		norm = t.normalizer.normalize
	}
	t.normTrie = newTrie(t.added, t.normIdx, norm)
	if t.pre, err = buildPreTokenizer(f.PreTokenizer, 0); err != nil {
		return nil, err
	}
	if t.post, err = t.buildPostProcessor(f.PostProcessor, 0); err != nil {
		return nil, err
	}
	if t.decoder, err = buildDecoder(f.Decoder, 0); err != nil {
		return nil, err
	}
	t.byteLevel = t.pre != nil && t.pre.byteLevel()
	if t.byteLevel {
		if err := t.model.initByteLevel(); err != nil {
			return nil, err
		}
	}
	return t, t.applyConfig(&cfg)
}

func mergeConfig(dst, src *configJSON) {
	if src.TokenizerClass != "" {
		dst.TokenizerClass = src.TokenizerClass
	}
	for _, p := range []struct{ d, s *tokenField }{
		{&dst.BOSToken, &src.BOSToken}, {&dst.EOSToken, &src.EOSToken},
		{&dst.PadToken, &src.PadToken}, {&dst.UnkToken, &src.UnkToken},
	} {
		if p.s.Set {
			*p.d = *p.s
		}
	}
	if src.AddBOSToken != nil {
		dst.AddBOSToken = src.AddBOSToken
	}
	if src.AddEOSToken != nil {
		dst.AddEOSToken = src.AddEOSToken
	}
	if src.CleanUpTokenizationSpaces != nil {
		dst.CleanUpTokenizationSpaces = src.CleanUpTokenizationSpaces
	}
	if src.AdditionalSpecialTokens != nil {
		dst.AdditionalSpecialTokens = src.AdditionalSpecialTokens
	}
}

// applyConfig resolves the named special tokens and the decode options.
func (t *Tokenizer) applyConfig(c *configJSON) error {
	lookup := func(name string, f tokenField) (int, error) {
		if !f.Set || f.Content == "" {
			return -1, nil
		}
		id, ok := t.TokenToID(f.Content)
		if !ok {
			return -1, fmt.Errorf("tokenizer_config: %s %q is not in the vocabulary", name, f.Content)
		}
		return id, nil
	}
	var err error
	if t.bos, err = lookup("bos_token", c.BOSToken); err != nil {
		return err
	}
	if t.eos, err = lookup("eos_token", c.EOSToken); err != nil {
		return err
	}
	if t.pad, err = lookup("pad_token", c.PadToken); err != nil {
		return err
	}
	if c.UnkToken.Set {
		if t.unk, err = lookup("unk_token", c.UnkToken); err != nil {
			return err
		}
	} else if t.model.unk >= 0 {
		t.unk = int(t.model.unk)
	}
	for _, a := range c.AdditionalSpecialTokens {
		if id, ok := t.TokenToID(a.Content); ok {
			t.special[id] = true
		}
	}
	if c.CleanUpTokenizationSpaces != nil {
		t.cleanUp = *c.CleanUpTokenizationSpaces
	}
	// Llama and Gemma fast tokenizers always rebuild their template
	// post-processor from add_bos_token (default true) and add_eos_token
	// (default false): transformers' update_post_processor.
	cls := strings.TrimSuffix(c.TokenizerClass, "Fast")
	if cls == "LlamaTokenizer" || cls == "CodeLlamaTokenizer" || cls == "GemmaTokenizer" {
		addBOS := c.AddBOSToken == nil || *c.AddBOSToken
		addEOS := c.AddEOSToken != nil && *c.AddEOSToken
		if addBOS && t.bos < 0 {
			return errors.New("tokenizer_config: add_bos_token is true but there is no bos_token")
		}
		if addEOS && t.eos < 0 {
			return errors.New("tokenizer_config: add_eos_token is true but there is no eos_token")
		}
		p := &templateProcessor{}
		if addBOS {
			p.prefix = []int{t.bos}
		}
		if addEOS {
			p.suffix = []int{t.eos}
		}
		t.post = p
	}
	return nil
}
