package tokenizer

import (
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// matcher finds the non-overlapping matches of a pattern in s and appends
// their byte spans (start, end pairs) to spans.
type matcher interface {
	find(sc *scratch, s string, spans []int) []int
}

func newMatcher(re *regexp2.Regexp, literal string) matcher {
	if re == nil {
		return literalMatcher(literal)
	}
	if f := fastMatcherFor(re.String()); f != nil {
		return f
	}
	return &regexMatcher{re: re}
}

type literalMatcher string

func (l literalMatcher) find(_ *scratch, s string, spans []int) []int {
	for off := 0; ; {
		i := strings.Index(s[off:], string(l))
		if i < 0 {
			return spans
		}
		spans = append(spans, off+i, off+i+len(l))
		off += i + len(l)
	}
}

// regexMatcher runs a regexp2 pattern over runes and converts the rune
// offsets it reports back to byte offsets.
type regexMatcher struct{ re *regexp2.Regexp }

func (m *regexMatcher) find(sc *scratch, s string, spans []int) []int {
	runes := sc.runes[:0]
	offs := sc.offs[:0]
	for i, r := range s {
		runes = append(runes, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	sc.runes, sc.offs = runes, offs
	err := m.re.FindRunesMatches(runes, 0, func(v regexp2.MatchView) bool {
		idx, n, ok := v.GroupRange(0)
		if ok {
			spans = append(spans, offs[idx], offs[idx+n])
		}
		return true
	})
	if err != nil {
		// Only timeouts and stack limits, neither of which we configure;
		// treat the rest as one piece rather than lose text.
		return append(spans[:0], 0, len(s))
	}
	return spans
}

// validUTF8 replaces invalid UTF-8 with U+FFFD, so the text the pipeline
// sees is always a sequence of characters.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return lossyUTF8([]byte(s))
}
