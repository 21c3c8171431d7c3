package tokenizer

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A minimal scanner for the two big values of tokenizer.json, the vocab
// object and the merges array, which are most of its bytes. encoding/json
// spends most of a load in reflection for them. Anything unexpected makes the
// fast path give up, and the caller falls back to encoding/json, which also
// produces the precise error message.

var errSlowPath = errors.New("tokenizer: fall back to encoding/json")

type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jscan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// str parses a JSON string, decoding escapes as encoding/json does.
func (s *jscan) str() (string, error) {
	if !s.eat('"') {
		return "", errSlowPath
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			chunk := s.b[start:s.i]
			s.i++
			if !utf8.Valid(chunk) {
				return "", errSlowPath
			}
			return string(chunk), nil
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return "", errSlowPath
		}
		s.i++
	}
	return "", errSlowPath
}

func (s *jscan) strEscaped(start int) (string, error) {
	buf := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(buf) {
				return "", errSlowPath
			}
			return string(buf), nil
		case c < 0x20:
			return "", errSlowPath
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", errSlowPath
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", errSlowPath
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if lo, ok := s.hex4(); ok {
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							s.i = save
						}
					} else {
						return "", errSlowPath
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", errSlowPath
		}
	}
	return "", errSlowPath
}

func (s *jscan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

// uint parses a non-negative integer without sign, fraction or exponent.
func (s *jscan) uint() (int64, error) {
	s.ws()
	start := s.i
	var v int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int64(s.b[s.i]-'0')
		if v >= maxVocab {
			return 0, errSlowPath
		}
		s.i++
	}
	if s.i == start || (s.b[start] == '0' && s.i-start > 1) {
		return 0, errSlowPath
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, errSlowPath
		}
	}
	return v, nil
}

func (s *jscan) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errSlowPath
	}
	return nil
}

// scanVocab parses {"token": id, ...}.
func scanVocab(raw []byte, f func(tok string, id int64)) error {
	s := &jscan{b: raw}
	if !s.eat('{') {
		return errSlowPath
	}
	if s.eat('}') {
		return s.end()
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if !s.eat(':') {
			return errSlowPath
		}
		v, err := s.uint()
		if err != nil {
			return err
		}
		f(k, v)
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return s.end()
		}
		return errSlowPath
	}
}

// scanMerges parses ["a b", ...] or [["a", "b"], ...].
func scanMerges(raw []byte) ([][2]string, error) {
	s := &jscan{b: raw}
	if !s.eat('[') {
		return nil, errSlowPath
	}
	var out [][2]string
	if s.eat(']') {
		return out, s.end()
	}
	nested := s.peek() == '['
	for {
		var p [2]string
		if (s.peek() == '[') != nested {
			return nil, errSlowPath // mixed formats
		}
		if nested {
			s.i++
			a, err := s.str()
			if err != nil {
				return nil, err
			}
			if !s.eat(',') {
				return nil, errSlowPath
			}
			b, err := s.str()
			if err != nil {
				return nil, err
			}
			if !s.eat(']') {
				return nil, errSlowPath
			}
			p = [2]string{a, b}
		} else {
			m, err := s.str()
			if err != nil {
				return nil, err
			}
			l, r, ok := cutSpace(m)
			if !ok {
				return nil, errSlowPath
			}
			p = [2]string{l, r}
		}
		out = append(out, p)
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return out, s.end()
		}
		return nil, errSlowPath
	}
}

func cutSpace(m string) (string, string, bool) {
	for i := 0; i < len(m); i++ {
		if m[i] == ' ' {
			return m[:i], m[i+1:], true
		}
	}
	return "", "", false
}

// skipValue moves past one JSON value and returns its bytes. It only tracks
// strings and nesting; every byte it skips is validated later, by the strict
// scanners above or by encoding/json.
func (s *jscan) skipValue() ([]byte, error) {
	s.ws()
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch c {
		case '"':
			s.i++
			for s.i < len(s.b) && s.b[s.i] != '"' {
				if s.b[s.i] == '\\' {
					s.i++
				}
				s.i++
			}
			if s.i >= len(s.b) {
				return nil, errSlowPath
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return nil, errSlowPath
			}
		case ',', ':':
			if depth == 0 {
				return s.b[start:s.i], nil
			}
		}
		s.i++
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return s.b[start:s.i], nil
		}
	}
	if depth == 0 && s.i > start {
		return s.b[start:s.i], nil
	}
	return nil, errSlowPath
}

// scanObject calls f with each key and raw value of a JSON object.
func scanObject(raw []byte, f func(key string, val []byte) error) error {
	s := &jscan{b: raw}
	if !s.eat('{') {
		return errSlowPath
	}
	if s.eat('}') {
		return s.end()
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if !s.eat(':') {
			return errSlowPath
		}
		v, err := s.skipValue()
		if err != nil {
			return err
		}
		if err := f(k, v); err != nil {
			return err
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return s.end()
		}
		return errSlowPath
	}
}

// fastFile splits tokenizer.json without decoding its vocab and merges twice:
// they stay raw for scanVocab and scanMerges, every other value goes through
// encoding/json. Any surprise returns errSlowPath.
func fastFile(tj []byte, f *fileJSON) error {
	raws := map[string]*json.RawMessage{
		"normalizer": &f.Normalizer, "pre_tokenizer": &f.PreTokenizer,
		"post_processor": &f.PostProcessor, "decoder": &f.Decoder,
	}
	seen := map[string]bool{}
	return scanObject(tj, func(k string, v []byte) error {
		if seen[k] {
			return errSlowPath // repeated keys: leave the rules to encoding/json
		}
		seen[k] = true
		switch {
		case raws[k] != nil:
			if !json.Valid(v) {
				return errSlowPath
			}
			*raws[k] = v
		case k == "added_tokens":
			if json.Unmarshal(v, &f.AddedTokens) != nil {
				return errSlowPath
			}
		case k == "model":
			return fastModel(v, &f.Model)
		default:
			// encoding/json matches keys case-insensitively.
			for _, known := range []string{"normalizer", "pre_tokenizer", "post_processor", "decoder", "added_tokens", "model"} {
				if strings.EqualFold(k, known) {
					return errSlowPath
				}
			}
			if !json.Valid(v) {
				return errSlowPath
			}
		}
		return nil
	})
}

func fastModel(raw []byte, m *modelJSON) error {
	var rest []byte
	rest = append(rest, '{')
	seen := map[string]bool{}
	err := scanObject(raw, func(k string, v []byte) error {
		if seen[k] {
			return errSlowPath
		}
		seen[k] = true
		switch k {
		case "vocab":
			m.Vocab = v // validated by scanVocab or its encoding/json fallback
		case "merges":
			m.Merges = v
		default:
			if strings.EqualFold(k, "vocab") || strings.EqualFold(k, "merges") {
				return errSlowPath
			}
			if len(rest) > 1 {
				rest = append(rest, ',')
			}
			kb, _ := json.Marshal(k)
			rest = append(append(append(rest, kb...), ':'), v...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rest = append(rest, '}')
	vocab, merges := m.Vocab, m.Merges
	if json.Unmarshal(rest, m) != nil {
		return errSlowPath
	}
	m.Vocab, m.Merges = vocab, merges
	return nil
}
