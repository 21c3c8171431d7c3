package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Hand-written matchers for the pre-tokenizer regexes nearly every
// byte-level model uses. They give exactly regexp2's matches (checked
// exhaustively per character class and by differential fuzzing against
// regexp2 in fastsplit_test.go) at several times the speed.

const (
	// Llama 3 / GPT-4 (cl100k) split, digits in groups of up to three.
	patLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Qwen 2 / Qwen 3: the same with single digits.
	patQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// gpt-oss / GPT-4o (o200k): case-aware words with trailing contractions.
	patO200k = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

func fastMatcherFor(pattern string) matcher {
	switch pattern {
	case patLlama3:
		return cl100kMatcher{maxDigits: 3}
	case patQwen2:
		return cl100kMatcher{maxDigits: 1}
	case gpt2Pattern:
		return gpt2Matcher{}
	case patO200k:
		return o200kMatcher{}
	}
	return nil
}

const (
	clsL  = 1 << iota // \p{L}
	clsN              // \p{N}
	clsS              // \s
	clsNL             // \r or \n
	clsU              // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	clsW              // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

var asciiClass [128]uint8

func init() {
	for c := range 128 {
		asciiClass[c] = slowClass(rune(c))
	}
}

// isSpace is regexp2's \s in its default (.NET) mode.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85:
		return true
	}
	return r > 0x7f && unicode.Is(unicode.Z, r)
}

func slowClass(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= clsL
	}
	if unicode.IsNumber(r) {
		c |= clsN
	}
	if isSpace(r) {
		c |= clsS
	}
	if r == '\r' || r == '\n' {
		c |= clsNL
	}
	both := unicode.In(r, unicode.Lm, unicode.Lo, unicode.M)
	if both || unicode.In(r, unicode.Lu, unicode.Lt) {
		c |= clsU
	}
	if both || unicode.Is(unicode.Ll, r) {
		c |= clsW
	}
	return c
}

// classAt returns the class of the character at s[i] and its size.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, sz := utf8.DecodeRuneInString(s[i:])
	return slowClass(r), sz
}

func scanClass(s string, i int, want uint8) int {
	for i < len(s) {
		c, sz := classAt(s, i)
		if c&want == 0 {
			break
		}
		i += sz
	}
	return i
}

// scanOther skips characters that are none of \s, \p{L}, \p{N}.
func scanOther(s string, i int) int {
	for i < len(s) {
		c, sz := classAt(s, i)
		if c&(clsS|clsL|clsN) != 0 {
			break
		}
		i += sz
	}
	return i
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// contraction matches the English contractions at s[i], an apostrophe.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) {
		return 0
	}
	c := s[i+1]
	if fold {
		c = lowerASCII(c)
		// Unicode simple case folding: U+017F LATIN SMALL LETTER LONG S is s.
		if c == 0xC5 && i+2 < len(s) && s[i+2] == 0xBF {
			return 3
		}
	}
	switch c {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if i+2 >= len(s) {
			return 0
		}
		d := s[i+2]
		if fold {
			d = lowerASCII(d)
		}
		if (c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l') {
			return 3
		}
	}
	return 0
}

// whitespaceTail handles \s+(?!\S)|\s+ for a whitespace run [i, e).
func whitespaceTail(s string, i, e int) int {
	if e == len(s) {
		return e
	}
	_, last := utf8.DecodeLastRuneInString(s[i:e])
	if e-last > i {
		return e - last
	}
	return e
}

type cl100kMatcher struct{ maxDigits int }

func (m cl100kMatcher) find(_ *scratch, s string, spans []int) []int {
	for i := 0; i < len(s); {
		e := m.next(s, i)
		spans = append(spans, i, e)
		i = e
	}
	return spans
}

func (m cl100kMatcher) next(s string, i int) int {
	if s[i] == '\'' {
		if n := contraction(s, i, true); n > 0 {
			return i + n
		}
	}
	c, sz := classAt(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c&clsL != 0 {
		return scanClass(s, i+sz, clsL)
	}
	if c&(clsNL|clsN) == 0 && i+sz < len(s) {
		if c2, sz2 := classAt(s, i+sz); c2&clsL != 0 {
			return scanClass(s, i+sz+sz2, clsL)
		}
	}
	// \p{N}{1,maxDigits}
	if c&clsN != 0 {
		j := i + sz
		for n := 1; n < m.maxDigits && j < len(s); n++ {
			c2, sz2 := classAt(s, j)
			if c2&clsN == 0 {
				break
			}
			j += sz2
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	j := i
	if s[i] == ' ' {
		j++
	}
	if k := scanOther(s, j); k > j {
		for k < len(s) && (s[k] == '\r' || s[k] == '\n') {
			k++
		}
		return k
	}
	// c is whitespace here.
	e := scanClass(s, i, clsS)
	// \s*[\r\n]+ : up to the last newline of the run.
	for k := e - 1; k >= i; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	return whitespaceTail(s, i, e)
}

// gpt2Matcher is the ByteLevel pre-tokenizer's own regex.
type gpt2Matcher struct{}

func (gpt2Matcher) find(_ *scratch, s string, spans []int) []int {
	for i := 0; i < len(s); {
		e := gpt2Next(s, i)
		spans = append(spans, i, e)
		i = e
	}
	return spans
}

func gpt2Next(s string, i int) int {
	if s[i] == '\'' {
		if n := contraction(s, i, false); n > 0 {
			return i + n
		}
	}
	j := i
	if s[i] == ' ' && i+1 < len(s) {
		j++
	}
	c, sz := classAt(s, j)
	switch {
	case c&clsL != 0:
		return scanClass(s, j+sz, clsL)
	case c&clsN != 0:
		return scanClass(s, j+sz, clsN)
	case c&clsS == 0:
		return scanOther(s, j+sz)
	}
	e := scanClass(s, i, clsS)
	return whitespaceTail(s, i, e)
}

// o200kMatcher is gpt-oss's (o200k) split regex.
type o200kMatcher struct{}

func (o200kMatcher) find(_ *scratch, s string, spans []int) []int {
	for i := 0; i < len(s); {
		e := o200kNext(s, i)
		spans = append(spans, i, e)
		i = e
	}
	return spans
}

// o200kPrefix reports whether s[i] may be the optional leading
// [^\r\n\p{L}\p{N}] of the two word alternatives, and its size.
func o200kPrefix(s string, i int) (int, bool) {
	c, sz := classAt(s, i)
	return sz, c&(clsL|clsN|clsNL) == 0
}

// o200kWordA matches [U]*[W]+ at p (U, W as clsU, clsW), with the
// backtracking of the regex: when the U run is not followed by a W
// character, the match ends after the last W character inside the run.
func o200kWordA(s string, p int) int {
	i, lastW := p, -1
	for i < len(s) {
		c, sz := classAt(s, i)
		if c&clsU == 0 {
			break
		}
		i += sz
		if c&clsW != 0 {
			lastW = i
		}
	}
	if i < len(s) {
		if c, _ := classAt(s, i); c&clsW != 0 {
			return scanClass(s, i, clsW)
		}
	}
	return lastW
}

// o200kWordB matches [U]+[W]* at p.
func o200kWordB(s string, p int) int {
	i := scanClass(s, p, clsU)
	if i == p {
		return -1
	}
	return scanClass(s, i, clsW)
}

func o200kContraction(s string, e int) int {
	if e < len(s) && s[e] == '\'' {
		return e + contraction(s, e, true)
	}
	return e
}

func o200kNext(s string, i int) int {
	sz, pre := o200kPrefix(s, i)
	for _, word := range []func(string, int) int{o200kWordA, o200kWordB} {
		if pre && i+sz < len(s) {
			if e := word(s, i+sz); e > i+sz {
				return o200kContraction(s, e)
			}
		}
		if e := word(s, i); e > i {
			return o200kContraction(s, e)
		}
	}
	c, sz := classAt(s, i)
	// \p{N}{1,3}
	if c&clsN != 0 {
		j := i + sz
		for n := 1; n < 3 && j < len(s); n++ {
			c2, sz2 := classAt(s, j)
			if c2&clsN == 0 {
				break
			}
			j += sz2
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n/]*
	j := i
	if s[i] == ' ' {
		j++
	}
	if k := scanOther(s, j); k > j {
		for k < len(s) && (s[k] == '\r' || s[k] == '\n' || s[k] == '/') {
			k++
		}
		return k
	}
	e := scanClass(s, i, clsS)
	for k := e - 1; k >= i; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	return whitespaceTail(s, i, e)
}
