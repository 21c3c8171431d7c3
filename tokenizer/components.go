package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/text/unicode/norm"
)

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func parseComponent(kind string, raw json.RawMessage, depth int) (*componentJSON, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("%s: Sequence nested more than %d deep", kind, maxNesting)
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if c.Type == "" {
		return nil, fmt.Errorf("%s: no \"type\"", kind)
	}
	return &c, nil
}

// compilePattern compiles a tokenizers pattern: a literal String or an
// Oniguruma-style Regex (regexp2 supports its look-around and (?i:) groups).
func compilePattern(kind string, p *patternJSON) (*regexp2.Regexp, string, error) {
	switch {
	case p == nil:
		return nil, "", fmt.Errorf("%s: no pattern", kind)
	case p.String != nil:
		if *p.String == "" {
			return nil, "", fmt.Errorf("%s: empty String pattern", kind)
		}
		return nil, *p.String, nil
	case p.Regex != nil:
		re, err := regexp2.Compile(*p.Regex, regexp2.None)
		if err != nil {
			return nil, "", fmt.Errorf("%s: regex %q: %w", kind, *p.Regex, err)
		}
		// A pathological pattern must not hang encoding; on timeout the
		// piece is kept whole (see regexMatcher).
		re.MatchTimeout = 10 * time.Second
		return re, "", nil
	}
	return nil, "", fmt.Errorf("%s: pattern needs String or Regex", kind)
}

// ---- normalizers ----

type normalizer interface{ normalize(string) string }

type normSeq []normalizer

func (s normSeq) normalize(x string) string {
	for _, n := range s {
		x = n.normalize(x)
	}
	return x
}

type normForm struct{ f norm.Form }

func (n normForm) normalize(x string) string {
	if isASCII(x) {
		return x
	}
	return n.f.String(x)
}

type normPrepend string

func (p normPrepend) normalize(x string) string {
	if x == "" {
		return x
	}
	return string(p) + x
}

type normReplace struct {
	re      *regexp2.Regexp
	literal string
	content string
}

func (r normReplace) normalize(x string) string { return r.apply(x) }

func (r normReplace) apply(x string) string {
	if r.re == nil {
		return strings.ReplaceAll(x, r.literal, r.content)
	}
	out, err := r.re.ReplaceFunc(x, func(regexp2.Match) string { return r.content }, -1, -1)
	if err != nil {
		return x
	}
	return out
}

type normLowercase struct{}

func (normLowercase) normalize(x string) string { return strings.ToLower(x) }

type normStrip struct{ left, right bool }

func (s normStrip) normalize(x string) string {
	if s.left {
		x = strings.TrimLeftFunc(x, unicode.IsSpace)
	}
	if s.right {
		x = strings.TrimRightFunc(x, unicode.IsSpace)
	}
	return x
}

func buildNormalizer(raw json.RawMessage, depth int) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent("normalizer", raw, depth)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s normSeq
		for _, r := range c.Normalizers {
			n, err := buildNormalizer(r, depth+1)
			if err != nil {
				return nil, err
			}
			if n != nil {
				s = append(s, n)
			}
		}
		return s, nil
	case "NFC":
		return normForm{norm.NFC}, nil
	case "NFD":
		return normForm{norm.NFD}, nil
	case "NFKC":
		return normForm{norm.NFKC}, nil
	case "NFKD":
		return normForm{norm.NFKD}, nil
	case "Prepend":
		if c.Prepend == nil {
			return nil, errors.New("normalizer Prepend: no \"prepend\"")
		}
		return normPrepend(*c.Prepend), nil
	case "Replace":
		re, lit, err := compilePattern("normalizer Replace", c.Pattern)
		if err != nil {
			return nil, err
		}
		if c.Content == nil {
			return nil, errors.New("normalizer Replace: no \"content\"")
		}
		return normReplace{re: re, literal: lit, content: *c.Content}, nil
	case "Lowercase":
		return normLowercase{}, nil
	case "Strip":
		return normStrip{left: c.StripLeft, right: c.StripRight}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", c.Type)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// ---- pre-tokenizers ----

// preTokenizer splits pieces further. Pieces are substrings of the section
// wherever possible, so splitting allocates only the slice.
type preTokenizer interface {
	split(sc *scratch, pieces []string, section int) []string
	byteLevel() bool
}

type preSeq []preTokenizer

func (s preSeq) split(sc *scratch, p []string, section int) []string {
	for _, t := range s {
		p = t.split(sc, p, section)
	}
	return p
}

func (s preSeq) byteLevel() bool { return len(s) > 0 && s[len(s)-1].byteLevel() }

type splitBehavior int

const (
	behRemoved splitBehavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

// preSplit is the Split pre-tokenizer.
type preSplit struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

func (p *preSplit) byteLevel() bool { return false }

func (p *preSplit) split(sc *scratch, pieces []string, _ int) []string {
	out := sc.take()
	for _, s := range pieces {
		out = splitPiece(sc, out, s, p.m, p.behavior, p.invert)
	}
	return sc.give(pieces, out)
}

// splitPiece applies a delimiter behaviour to the matches of m in s.
func splitPiece(sc *scratch, out []string, s string, m matcher, beh splitBehavior, invert bool) []string {
	spans := m.find(sc, s, sc.spans[:0])
	sc.spans = spans
	// Turn matches into alternating segments: (start, end, isMatch).
	segs := sc.segs[:0]
	prev := 0
	for i := 0; i+1 < len(spans); i += 2 {
		a, b := spans[i], spans[i+1]
		if a > prev {
			segs = append(segs, segment{prev, a, invert})
		}
		segs = append(segs, segment{a, b, !invert})
		prev = b
	}
	if prev < len(s) {
		segs = append(segs, segment{prev, len(s), invert})
	}
	sc.segs = segs
	switch beh {
	case behIsolated:
		for _, g := range segs {
			if g.b > g.a {
				out = append(out, s[g.a:g.b])
			}
		}
	case behRemoved:
		for _, g := range segs {
			if !g.match && g.b > g.a {
				out = append(out, s[g.a:g.b])
			}
		}
	case behMergedWithPrevious:
		start := -1
		for _, g := range segs {
			if start < 0 {
				start = g.a
			}
			if g.match {
				if g.b > start {
					out = append(out, s[start:g.b])
				}
				start = -1
			}
		}
		if start >= 0 && start < len(s) {
			out = append(out, s[start:])
		}
	case behMergedWithNext:
		start := -1
		for _, g := range segs {
			if g.match {
				if start >= 0 && g.a > start {
					out = append(out, s[start:g.a])
				}
				start = g.a
				continue
			}
			if start < 0 {
				start = g.a
			}
			if g.b > start {
				out = append(out, s[start:g.b])
			}
			start = -1
		}
		if start >= 0 && start < len(s) {
			out = append(out, s[start:])
		}
	case behContiguous:
		start, inMatch := -1, false
		for _, g := range segs {
			if g.b == g.a {
				continue
			}
			if start >= 0 && g.match && inMatch {
				continue
			}
			if start >= 0 {
				out = append(out, s[start:g.a])
			}
			start, inMatch = g.a, g.match
		}
		if start >= 0 {
			out = append(out, s[start:])
		}
	}
	return out
}

type segment struct {
	a, b  int
	match bool
}

// preByteLevel is ByteLevel pre-tokenization. The byte-to-character mapping
// itself is done by the model (bpe.byteID), so pieces stay raw bytes.
type preByteLevel struct {
	addPrefixSpace bool
	re             matcher // nil unless use_regex
}

func (p *preByteLevel) byteLevel() bool { return true }

func (p *preByteLevel) split(sc *scratch, pieces []string, _ int) []string {
	if p.addPrefixSpace {
		for i, s := range pieces {
			if !strings.HasPrefix(s, " ") {
				pieces[i] = " " + s
			}
		}
	}
	if p.re == nil {
		return pieces
	}
	out := sc.take()
	for _, s := range pieces {
		out = splitPiece(sc, out, s, p.re, behIsolated, false)
	}
	return sc.give(pieces, out)
}

// preMetaspace replaces spaces with the replacement character and may
// prepend one; with split it also cuts before each replacement.
type preMetaspace struct {
	replacement string
	scheme      string // always, first, never
	split_      bool
}

func (p *preMetaspace) byteLevel() bool { return false }

func (p *preMetaspace) split(sc *scratch, pieces []string, section int) []string {
	out := sc.take()
	for _, s := range pieces {
		s = strings.ReplaceAll(s, " ", p.replacement)
		if (p.scheme == "always" || (p.scheme == "first" && section == 0)) && !strings.HasPrefix(s, p.replacement) {
			s = p.replacement + s
		}
		if !p.split_ {
			out = append(out, s)
			continue
		}
		start := 0
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], p.replacement)
			if j < 0 {
				break
			}
			at := i + j
			if at > start {
				out = append(out, s[start:at])
				start = at
			}
			i = at + len(p.replacement)
		}
		if start < len(s) {
			out = append(out, s[start:])
		}
	}
	return sc.give(pieces, out)
}

// preDigits splits digits from everything else (and from each other with
// individual_digits).
type preDigits struct{ individual bool }

func (p *preDigits) byteLevel() bool { return false }

func (p *preDigits) split(sc *scratch, pieces []string, _ int) []string {
	out := sc.take()
	for _, s := range pieces {
		start := 0
		prevDigit := false
		for i, r := range s {
			d := unicode.IsNumber(r) // Rust char::is_numeric
			if i > start && (d != prevDigit || (d && p.individual)) {
				out = append(out, s[start:i])
				start = i
			}
			prevDigit = d
		}
		if start < len(s) {
			out = append(out, s[start:])
		}
	}
	return sc.give(pieces, out)
}

// preWhitespaceSplit splits on whitespace, dropping it.
type preWhitespaceSplit struct{}

func (preWhitespaceSplit) byteLevel() bool { return false }

func (preWhitespaceSplit) split(sc *scratch, pieces []string, _ int) []string {
	out := sc.take()
	for _, s := range pieces {
		out = append(out, strings.Fields(s)...)
	}
	return sc.give(pieces, out)
}

func buildPreTokenizer(raw json.RawMessage, depth int) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent("pre_tokenizer", raw, depth)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s preSeq
		for i, r := range c.Pretokenizers {
			p, err := buildPreTokenizer(r, depth+1)
			if err != nil {
				return nil, err
			}
			if p == nil {
				continue
			}
			if p.byteLevel() && i != len(c.Pretokenizers)-1 {
				return nil, errors.New("pre_tokenizer ByteLevel is only supported last in a Sequence")
			}
			s = append(s, p)
		}
		return s, nil
	case "Split":
		re, lit, err := compilePattern("pre_tokenizer Split", c.Pattern)
		if err != nil {
			return nil, err
		}
		beh, err := parseBehavior(c.Behavior)
		if err != nil {
			return nil, err
		}
		return &preSplit{m: newMatcher(re, lit), behavior: beh, invert: c.Invert}, nil
	case "ByteLevel":
		p := &preByteLevel{addPrefixSpace: c.AddPrefixSpace != nil && *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			p.re = newMatcher(regexp2.MustCompile(gpt2Pattern, regexp2.None), "")
		}
		return p, nil
	case "Metaspace":
		p := &preMetaspace{replacement: c.Replacement, scheme: c.PrependScheme, split_: c.Split == nil || *c.Split}
		if p.replacement == "" {
			p.replacement = "\u2581"
		}
		switch p.scheme {
		case "":
			p.scheme = "always"
			if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
				p.scheme = "never"
			}
		case "always", "first", "never":
		default:
			return nil, fmt.Errorf("pre_tokenizer Metaspace: prepend_scheme %q is not supported", p.scheme)
		}
		return p, nil
	case "Digits":
		return &preDigits{individual: c.IndividualDigits}, nil
	case "WhitespaceSplit":
		return preWhitespaceSplit{}, nil
	}
	return nil, fmt.Errorf("pre_tokenizer type %q is not supported", c.Type)
}

func parseBehavior(s string) (splitBehavior, error) {
	switch strings.ToLower(s) {
	case "removed":
		return behRemoved, nil
	case "isolated":
		return behIsolated, nil
	case "merged_with_previous", "mergedwithprevious":
		return behMergedWithPrevious, nil
	case "merged_with_next", "mergedwithnext":
		return behMergedWithNext, nil
	case "contiguous":
		return behContiguous, nil
	}
	return 0, fmt.Errorf("pre_tokenizer Split: behavior %q is not supported", s)
}

// gpt2Pattern is the ByteLevel pre-tokenizer's built-in regex (use_regex).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// ---- post-processors ----

type postProcessor interface {
	apply(ids []int) []int
}

type templateProcessor struct{ prefix, suffix []int }

func (p *templateProcessor) apply(ids []int) []int {
	if len(p.prefix) == 0 && len(p.suffix) == 0 {
		return ids
	}
	out := make([]int, 0, len(p.prefix)+len(ids)+len(p.suffix))
	out = append(out, p.prefix...)
	out = append(out, ids...)
	return append(out, p.suffix...)
}

func (t *Tokenizer) buildPostProcessor(raw json.RawMessage, depth int) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent("post_processor", raw, depth)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return nil, nil // offsets only
	case "Sequence":
		var found postProcessor
		for _, r := range c.Processors {
			p, err := t.buildPostProcessor(r, depth+1)
			if err != nil {
				return nil, err
			}
			if p != nil {
				if found != nil {
					return nil, errors.New("post_processor Sequence with more than one template is not supported")
				}
				found = p
			}
		}
		return found, nil
	case "TemplateProcessing":
		p := &templateProcessor{}
		seen := false
		for _, it := range c.Single {
			switch {
			case it.Sequence != nil:
				if it.Sequence.ID != "A" || seen {
					return nil, fmt.Errorf("post_processor TemplateProcessing: single template with sequence %q is not supported", it.Sequence.ID)
				}
				seen = true
			case it.SpecialToken != nil:
				spec, ok := c.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q is not defined", it.SpecialToken.ID)
				}
				for _, id := range spec.IDs {
					if id < 0 || id >= t.VocabSize() {
						return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q has id %d out of range", it.SpecialToken.ID, id)
					}
				}
				if seen {
					p.suffix = append(p.suffix, spec.IDs...)
				} else {
					p.prefix = append(p.prefix, spec.IDs...)
				}
			default:
				return nil, errors.New("post_processor TemplateProcessing: template item is neither Sequence nor SpecialToken")
			}
		}
		if !seen {
			return nil, errors.New("post_processor TemplateProcessing: single template has no sequence A")
		}
		return p, nil
	}
	return nil, fmt.Errorf("post_processor type %q is not supported", c.Type)
}

// ---- decoders ----

type decoder interface {
	decodeChain(tokens []string) []string
}

type decSeq []decoder

func (s decSeq) decodeChain(t []string) []string {
	for _, d := range s {
		t = d.decodeChain(t)
	}
	return t
}

type decByteLevel struct{}

func (decByteLevel) decodeChain(tokens []string) []string {
	var buf []byte
	for _, t := range tokens {
		buf = byteLevelBytes(buf, t)
	}
	return []string{lossyUTF8(buf)}
}

type decReplace struct{ r normReplace }

func (d decReplace) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = d.r.apply(t)
	}
	return out
}

// decByteFallback turns runs of <0xNN> tokens back into text; an invalid
// run becomes one U+FFFD per byte, as tokenizers does.
type decByteFallback struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || t[:3] != "<0x" || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(t[3])
	lo, ok2 := hexVal(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (decByteFallback) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type decFuse struct{}

func (decFuse) decodeChain(tokens []string) []string { return []string{strings.Join(tokens, "")} }

type decStrip struct {
	content     string
	start, stop int
}

func (d decStrip) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		for n := 0; n < d.start && strings.HasPrefix(t, d.content); n++ {
			t = t[len(d.content):]
		}
		for n := 0; n < d.stop && strings.HasSuffix(t, d.content); n++ {
			t = t[:len(t)-len(d.content)]
		}
		out[i] = t
	}
	return out
}

type decMetaspace struct {
	replacement string
	stripFirst  bool
}

func (d decMetaspace) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		t = strings.ReplaceAll(t, d.replacement, " ")
		if i == 0 && d.stripFirst {
			t = strings.TrimPrefix(t, " ")
		}
		out[i] = t
	}
	return out
}

func buildDecoder(raw json.RawMessage, depth int) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent("decoder", raw, depth)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s decSeq
		for _, r := range c.Decoders {
			d, err := buildDecoder(r, depth+1)
			if err != nil {
				return nil, err
			}
			if d != nil {
				s = append(s, d)
			}
		}
		return s, nil
	case "ByteLevel":
		return decByteLevel{}, nil
	case "Replace":
		re, lit, err := compilePattern("decoder Replace", c.Pattern)
		if err != nil {
			return nil, err
		}
		if c.Content == nil {
			return nil, errors.New("decoder Replace: no \"content\"")
		}
		return decReplace{normReplace{re: re, literal: lit, content: *c.Content}}, nil
	case "ByteFallback":
		return decByteFallback{}, nil
	case "Fuse":
		return decFuse{}, nil
	case "Strip":
		if c.Content == nil || utf8.RuneCountInString(*c.Content) != 1 {
			return nil, errors.New("decoder Strip: \"content\" must be one character")
		}
		if c.Start < 0 || c.Stop < 0 {
			return nil, errors.New("decoder Strip: negative start or stop")
		}
		return decStrip{content: *c.Content, start: c.Start, stop: c.Stop}, nil
	case "Metaspace":
		d := decMetaspace{replacement: c.Replacement, stripFirst: c.PrependScheme != "never"}
		if c.PrependScheme == "" && c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			d.stripFirst = false
		}
		if d.replacement == "" {
			d.replacement = "\u2581"
		}
		return d, nil
	}
	return nil, fmt.Errorf("decoder type %q is not supported", c.Type)
}
