package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/speculators-go/speculators/internal/jinja"
)

// maxDepth bounds the nesting of JSON inputs. Python's json module stops at
// about 1,000 levels (its recursion limit); templates never need more than a
// handful.
const maxDepth = 512

// decodeJSON turns one JSON value into a template value, keeping object key
// order as Python's json.loads does (a duplicated key keeps its first
// position and its last value). Integers stay integers and floats stay
// floats, so tojson writes them back the way Python would. It is a
// hand-written scanner (encoding/json's token stream cost half of a render);
// strings follow encoding/json: invalid UTF-8 and lone surrogates become
// U+FFFD. chat/value_test.go checks it against encoding/json.
func decodeJSON(data []byte) (jinja.Value, error) {
	d := jsonDecoder{data: data}
	d.skipSpace()
	v, err := d.value(0)
	if err != nil {
		return jinja.Undefined(), err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return jinja.Undefined(), fmt.Errorf("invalid JSON: data after the top-level value at offset %d", d.pos)
	}
	return v, nil
}

type jsonDecoder struct {
	data []byte
	pos  int
	buf  []byte
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (jinja.Value, error) {
	if depth > maxDepth {
		return jinja.Undefined(), fmt.Errorf("invalid JSON: nested deeper than %d levels", maxDepth)
	}
	if d.pos >= len(d.data) {
		return jinja.Undefined(), d.errorf("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		d.pos++
		v := jinja.NewDict()
		dict := v.AsDict()
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == '}' {
			d.pos++
			return v, nil
		}
		for {
			d.skipSpace()
			if d.pos >= len(d.data) || d.data[d.pos] != '"' {
				return jinja.Undefined(), d.errorf("object key must be a string")
			}
			key, err := d.str()
			if err != nil {
				return jinja.Undefined(), err
			}
			d.skipSpace()
			if d.pos >= len(d.data) || d.data[d.pos] != ':' {
				return jinja.Undefined(), d.errorf("missing ':' after object key")
			}
			d.pos++
			d.skipSpace()
			val, err := d.value(depth + 1)
			if err != nil {
				return jinja.Undefined(), err
			}
			dict.Set(key, val)
			d.skipSpace()
			if d.pos >= len(d.data) {
				return jinja.Undefined(), d.errorf("unterminated object")
			}
			if d.data[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.data[d.pos] == '}' {
				d.pos++
				return v, nil
			}
			return jinja.Undefined(), d.errorf("expected ',' or '}' in object")
		}
	case c == '[':
		d.pos++
		items := []jinja.Value{}
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return jinja.NewList(items), nil
		}
		for {
			d.skipSpace()
			val, err := d.value(depth + 1)
			if err != nil {
				return jinja.Undefined(), err
			}
			items = append(items, val)
			d.skipSpace()
			if d.pos >= len(d.data) {
				return jinja.Undefined(), d.errorf("unterminated array")
			}
			if d.data[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.data[d.pos] == ']' {
				d.pos++
				return jinja.NewList(items), nil
			}
			return jinja.Undefined(), d.errorf("expected ',' or ']' in array")
		}
	case c == '"':
		s, err := d.str()
		if err != nil {
			return jinja.Undefined(), err
		}
		return jinja.NewString(s), nil
	case c == 't':
		return d.literal("true", jinja.NewBool(true))
	case c == 'f':
		return d.literal("false", jinja.NewBool(false))
	case c == 'n':
		return d.literal("null", jinja.None())
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return jinja.Undefined(), d.errorf("unexpected character %q", d.data[d.pos])
}

func (d *jsonDecoder) literal(word string, v jinja.Value) (jinja.Value, error) {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		return jinja.Undefined(), d.errorf("invalid literal")
	}
	d.pos += len(word)
	return v, nil
}

func (d *jsonDecoder) number() (jinja.Value, error) {
	start := d.pos
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos < len(d.data) && d.data[d.pos] == '0' {
		d.pos++
	} else if digits() == 0 {
		return jinja.Undefined(), d.errorf("invalid number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return jinja.Undefined(), d.errorf("invalid number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return jinja.Undefined(), d.errorf("invalid number")
		}
	}
	return numberValue(string(d.data[start:d.pos]))
}

// str reads the string at d.pos (the opening quote).
func (d *jsonDecoder) str() (string, error) {
	d.pos++
	start := d.pos
	// Fast path: plain ASCII without escapes.
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			s := string(d.data[start:d.pos])
			d.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.pos++
	}
	b := append(d.buf[:0], d.data[start:d.pos]...)
	for {
		if d.pos >= len(d.data) {
			return "", d.errorf("unterminated string")
		}
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			d.buf = b
			return string(b), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		case c == '\\':
			if d.pos+1 >= len(d.data) {
				return "", d.errorf("unterminated string")
			}
			e := d.data[d.pos+1]
			d.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.errorf("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A valid pair combines; anything else is U+FFFD, as
					// encoding/json does.
					r2 := rune(-1)
					if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
						save := d.pos
						d.pos += 2
						var ok2 bool
						r2, ok2 = d.hex4()
						if !ok2 {
							return "", d.errorf("invalid \\u escape")
						}
						if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
							b = utf8.AppendRune(b, c)
							continue
						}
						d.pos = save
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", d.errorf("invalid escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			d.pos++
		default:
			r, size := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d.data[d.pos:d.pos+size]...)
			}
			d.pos += size
		}
	}
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.data) {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.pos += 4
	return r, true
}

// numberValue maps a JSON number literal as Python's json module does: a
// literal without '.', 'e' or 'E' is an int (of any size), anything else is a
// float.
func numberValue(s string) (jinja.Value, error) {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return jinja.NewInt(n), nil
		}
		var b big.Int
		if _, ok := b.SetString(s, 10); ok {
			return jinja.NewBigInt(&b), nil
		}
		return jinja.Undefined(), fmt.Errorf("invalid JSON number %q", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Python turns overflowing literals into inf; strconv returns ±Inf
		// with ErrRange, which we accept for the same result.
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return jinja.Undefined(), fmt.Errorf("invalid JSON number %q", s)
		}
	}
	return jinja.NewFloat(f), nil
}

// goValue converts an arbitrary Go value to a template value. json.RawMessage
// and []byte holding JSON are decoded in order; jinja.Value passes through;
// anything else goes through encoding/json first, so struct fields keep their
// declaration order (Go maps come out with sorted keys).
func goValue(v any) (jinja.Value, error) {
	switch t := v.(type) {
	case nil:
		return jinja.None(), nil
	case jinja.Value:
		return t, nil
	case json.RawMessage:
		return decodeJSON(t)
	case string:
		return jinja.NewString(t), nil
	case bool:
		return jinja.NewBool(t), nil
	case int:
		return jinja.NewInt(int64(t)), nil
	case int64:
		return jinja.NewInt(t), nil
	case float64:
		return jinja.NewFloat(t), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return jinja.Undefined(), err
	}
	return decodeJSON(data)
}
