package safetensors

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written parser for the header schema: it is about 10x faster than
// encoding/json's token API on large headers (tens of thousands of tensors)
// and detects duplicate keys, which map decoding cannot. It follows RFC 8259
// strictly; FuzzHeader checks it against the encoding/json-based reference
// parser kept in header_ref_test.go.

const maxSkipDepth = 1000

type hparser struct {
	b    []byte
	i    int
	path string
}

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

func (p *hparser) fail(format string, args ...any) error {
	return &syntaxError{off: p.i, msg: fmt.Sprintf(format, args...)}
}

func (p *hparser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte (0 at the end).
func (p *hparser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *hparser) expect(c byte) error {
	if got := p.peek(); got != c {
		if p.i >= len(p.b) {
			return p.fail("unexpected end of JSON, expected %q", c)
		}
		return p.fail("expected %q, found %q", c, got)
	}
	p.i++
	return nil
}

// str parses a JSON string at the current position (after whitespace).
func (p *hparser) str() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			return p.strSlow(start)
		}
		if c < 0x20 {
			return "", p.fail("control character in string")
		}
		p.i++
	}
	return "", p.fail("unexpected end of JSON in string")
}

// strSlow decodes a string with escapes, as encoding/json does (a lone
// surrogate becomes U+FFFD).
func (p *hparser) strSlow(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", p.fail("unexpected end of JSON in string")
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A following \uXXXX may complete the pair.
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", p.fail("invalid \\u escape")
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						continue
					}
					p.i = save
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			p.i -= 1
			return "", p.fail("invalid escape \\%c", e)
		}
	}
	return "", p.fail("unexpected end of JSON in string")
}

func (p *hparser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// number scans a JSON number and returns its text.
func (p *hparser) number() ([]byte, error) {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	intStart := p.i
	if n := digits(); n == 0 {
		return nil, p.fail("invalid number")
	} else if n > 1 && p.b[intStart] == '0' {
		p.i = intStart + 1
		return nil, p.fail("invalid number (leading zero)")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	return p.b[start:p.i], nil
}

// uint parses a number that must be a non-negative integer fitting int64.
func (p *hparser) uint() (int64, error) {
	num, err := p.number()
	if err != nil {
		return 0, err
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("expected a non-negative integer, found %s", num)
		}
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %s out of range", num)
	}
	return v, nil
}

// uintArray parses [n, ...]; want >= 0 requires that many elements.
func (p *hparser) uintArray(want int) ([]int64, error) {
	if err := p.expect('['); err != nil {
		return nil, err
	}
	out := []int64{}
	if p.peek() == ']' {
		p.i++
	} else {
		for {
			v, err := p.uint()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			if len(out) > 1<<20 {
				return nil, errors.New("too many elements")
			}
			c := p.peek()
			p.i++
			if c == ']' {
				break
			}
			if c != ',' {
				p.i--
				return nil, p.fail("expected ',' or ']' in array")
			}
		}
	}
	if want >= 0 && len(out) != want {
		return nil, fmt.Errorf("expected %d integers, found %d", want, len(out))
	}
	return out, nil
}

func (p *hparser) literal(lit string) bool {
	p.ws()
	if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
		p.i += len(lit)
		return true
	}
	return false
}

// skip parses and discards any JSON value.
func (p *hparser) skip(depth int) error {
	if depth > maxSkipDepth {
		return p.fail("nesting too deep")
	}
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.i++
		if p.peek() == end {
			p.i++
			return nil
		}
		for {
			if c == '{' {
				if _, err := p.str(); err != nil {
					return err
				}
				if err := p.expect(':'); err != nil {
					return err
				}
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			d := p.peek()
			p.i++
			if d == end {
				return nil
			}
			if d != ',' {
				p.i--
				return p.fail("expected ',' or %q", end)
			}
		}
	case c == 't' && p.literal("true"), c == 'f' && p.literal("false"), c == 'n' && p.literal("null"):
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := p.number()
		return err
	case c == 0 && p.i >= len(p.b):
		return p.fail("unexpected end of JSON")
	}
	return p.fail("invalid character %q", p.b[p.i])
}

// parseHeader parses the JSON header hdr of the file at path and validates
// it against a data section of dataLen bytes. The rules are those of the
// Rust reader (Metadata::validate and read_metadata): valid UTF-8 JSON,
// known dtypes, byte ranges equal to shape x itemsize, ranges that tile the
// data section from 0 to its end without holes or overlaps; duplicate
// names and duplicate fields are rejected too.
func parseHeader(path string, hdr []byte, dataLen int64) (*header, error) {
	if !utf8.Valid(hdr) {
		return nil, headerError(path, "", "header is not valid UTF-8")
	}
	p := &hparser{b: hdr, path: path}
	bad := func(tensor string, err error) error {
		return headerError(path, tensor, "invalid header JSON: %v", err)
	}
	if err := p.expect('{'); err != nil {
		return nil, bad("", err)
	}
	h := &header{}
	seen := map[string]bool{}
	if p.peek() == '}' {
		p.i++
	} else {
		for {
			name, err := p.str()
			if err != nil {
				return nil, bad("", err)
			}
			if err := p.expect(':'); err != nil {
				return nil, bad(name, err)
			}
			if seen[name] {
				return nil, headerError(path, name, "duplicate entry in header")
			}
			seen[name] = true
			if name == "__metadata__" {
				if err := p.meta(h); err != nil {
					return nil, err
				}
			} else {
				ti, err := p.tensor(name)
				if err != nil {
					return nil, err
				}
				h.tensors = append(h.tensors, ti)
			}
			c := p.peek()
			p.i++
			if c == '}' {
				break
			}
			if c != ',' {
				p.i--
				return nil, bad("", p.fail("expected ',' or '}' after entry %q", name))
			}
		}
	}
	if p.peek(); p.i != len(p.b) {
		return nil, headerError(path, "", "invalid header JSON: trailing characters after the header object at byte %d", p.i)
	}
	if err := validateLayout(path, h.tensors, dataLen); err != nil {
		return nil, err
	}
	return h, nil
}

func (p *hparser) meta(h *header) error {
	fail := func(format string, args ...any) error {
		return headerError(p.path, "", format, args...)
	}
	if p.peek() == 'n' && p.literal("null") { // serde's Option accepts null
		return nil
	}
	if p.peek() != '{' {
		if err := p.skip(0); err != nil {
			return fail("__metadata__: invalid JSON: %v", err)
		}
		return fail("__metadata__ must be an object of strings")
	}
	p.i++
	h.hasMeta = true
	h.meta = map[string]string{}
	if p.peek() == '}' {
		p.i++
		return nil
	}
	for {
		k, err := p.str()
		if err != nil {
			return fail("__metadata__: invalid JSON: %v", err)
		}
		if err := p.expect(':'); err != nil {
			return fail("__metadata__: invalid JSON: %v", err)
		}
		if p.peek() != '"' {
			if err := p.skip(0); err != nil {
				return fail("__metadata__: invalid JSON: %v", err)
			}
			return fail("__metadata__[%q] must be a string", k)
		}
		v, err := p.str()
		if err != nil {
			return fail("__metadata__: invalid JSON: %v", err)
		}
		if _, dup := h.meta[k]; dup {
			return fail("__metadata__: duplicate key %q", k)
		}
		h.meta[k] = v
		h.metaKeys = append(h.metaKeys, k)
		c := p.peek()
		p.i++
		if c == '}' {
			return nil
		}
		if c != ',' {
			p.i--
			return fail("__metadata__: invalid JSON: %v", p.fail("expected ',' or '}'"))
		}
	}
}

func (p *hparser) tensor(name string) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	fail := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, headerError(p.path, name, format, args...)
	}
	if p.peek() != '{' {
		if err := p.skip(0); err != nil {
			return fail("invalid JSON: %v", err)
		}
		return fail("entry must be an object")
	}
	p.i++
	var haveDType, haveShape, haveOffsets bool
	if p.peek() == '}' {
		p.i++
		return fail("missing field dtype")
	}
	for {
		k, err := p.str()
		if err != nil {
			return fail("invalid JSON: %v", err)
		}
		if err := p.expect(':'); err != nil {
			return fail("invalid JSON: %v", err)
		}
		switch k {
		case "dtype":
			if haveDType {
				return fail("duplicate field dtype")
			}
			haveDType = true
			if p.peek() != '"' {
				if err := p.skip(0); err != nil {
					return fail("invalid JSON: %v", err)
				}
				return fail("dtype must be a string")
			}
			s, err := p.str()
			if err != nil {
				return fail("invalid JSON: %v", err)
			}
			if !DType(s).Valid() {
				return fail("unknown dtype %q", s)
			}
			ti.DType = DType(s)
		case "shape":
			if haveShape {
				return fail("duplicate field shape")
			}
			haveShape = true
			if ti.Shape, err = p.uintArray(-1); err != nil {
				return fail("shape: %v", err)
			}
		case "data_offsets":
			if haveOffsets {
				return fail("duplicate field data_offsets")
			}
			haveOffsets = true
			off, err := p.uintArray(2)
			if err != nil {
				return fail("data_offsets: %v", err)
			}
			ti.Begin, ti.End = off[0], off[1]
		default:
			// serde ignores unknown fields of TensorInfo; so do we.
			if err := p.skip(0); err != nil {
				return fail("invalid JSON: %v", err)
			}
		}
		c := p.peek()
		p.i++
		if c == '}' {
			break
		}
		if c != ',' {
			p.i--
			return fail("invalid JSON: %v", p.fail("expected ',' or '}'"))
		}
	}
	switch {
	case !haveDType:
		return fail("missing field dtype")
	case !haveShape:
		return fail("missing field shape")
	case !haveOffsets:
		return fail("missing field data_offsets")
	}
	return ti, nil
}
