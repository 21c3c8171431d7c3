package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MarshalPython returns v as Python's json.dumps(v, indent=2, sort_keys=True)
// followed by a newline, which is how transformers writes config.json.
//
// v is built from nil, bool, string, json.Number, float32/float64 (always
// written as a Python float), Go integers and *big.Int (written as integers),
// []any, map[string]any, and typed slices and string-keyed maps of those.
// json.Number keeps the int/float distinction of the parsed text: a number
// with a '.', 'e' or 'E' is a Python float, anything else a Python int. This
// is what json.Unmarshal with UseNumber produces, so parsed JSON round-trips.
// Strings must be valid UTF-8 (Python strings cannot hold invalid bytes).
func MarshalPython(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writePy(&b, reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

var (
	numberType = reflect.TypeOf(json.Number(""))
	bigIntType = reflect.TypeOf((*big.Int)(nil))
)

func writePy(b *bytes.Buffer, v reflect.Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("pyjson: nesting deeper than %d", maxDepth)
	}
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	if v.Type() == numberType {
		s, err := pyNumber(json.Number(v.String()))
		if err != nil {
			return err
		}
		b.WriteString(s)
		return nil
	}
	if v.Type() == bigIntType {
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		b.WriteString(v.Interface().(*big.Int).String())
		return nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return writePy(b, v.Elem(), depth)
	case reflect.Bool:
		if v.Bool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case reflect.String:
		return writePyString(b, v.String())
	case reflect.Float32, reflect.Float64:
		b.WriteString(PyFloat(v.Float()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			b.WriteString("null")
			return nil
		}
		n := v.Len()
		if n == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, depth+1)
			if err := writePy(b, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		newline(b, depth)
		b.WriteByte(']')
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("pyjson: map key type %s is not a string", v.Type().Key())
		}
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		if v.Len() == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		// Go compares strings bytewise; for valid UTF-8 that is code point
		// order, which is how Python sorts str keys.
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, depth+1)
			if err := writePyString(b, k); err != nil {
				return err
			}
			b.WriteString(": ")
			kv := reflect.ValueOf(k).Convert(v.Type().Key())
			if err := writePy(b, v.MapIndex(kv), depth+1); err != nil {
				return err
			}
		}
		newline(b, depth)
		b.WriteByte('}')
	default:
		return fmt.Errorf("pyjson: cannot encode a value of type %s", v.Type())
	}
	return nil
}

// maxDepth bounds recursion; Python's own limit is about 1000.
const maxDepth = 512

func newline(b *bytes.Buffer, depth int) {
	b.WriteByte('\n')
	for i := 0; i < depth; i++ {
		b.WriteString("  ")
	}
}

// writePyString writes s as AppendPyString does, refusing invalid UTF-8,
// which Python's json.loads could not have produced.
func writePyString(b *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("pyjson: string %q is not valid UTF-8", s)
	}
	b.Write(AppendPyString(b.AvailableBuffer(), s, true))
	return nil
}

// AppendPyString appends s quoted as Python's json.dumps writes it: the short
// escapes \" \\ \n \r \t \b \f, other control characters as \u00XX, and the
// rest as is; with ensureASCII (json.dumps' default) also DEL and every
// non-ASCII code point as \uXXXX (a surrogate pair above the BMP). Hex is
// lower case. Without ensureASCII this is also serde_json's quoting.
// Invalid UTF-8 is copied as is, or with ensureASCII written as \ufffd a byte;
// callers that must refuse it check utf8.ValidString first.
func AppendPyString(b []byte, s string, ensureASCII bool) []byte {
	const hex = "0123456789abcdef"
	u4 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			if !ensureASCII {
				b = append(b, c)
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			if r < 0x10000 {
				b = u4(b, r)
			} else {
				r -= 0x10000
				b = u4(b, 0xd800|(r>>10)&0x3ff)
				b = u4(b, 0xdc00|r&0x3ff)
			}
			continue
		}
		i++
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20 || (c == 0x7f && ensureASCII):
			b = u4(b, rune(c))
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// PyFloat formats f as Python's repr(float): the shortest digits that round
// trip, in fixed notation with at least one fractional digit when the decimal
// exponent is in [-4, 16), else in exponent notation with a signed exponent of
// at least two digits (1e-06, 1.5e-05, 1e+16). NaN and infinities are written
// as json.dumps writes them (NaN, Infinity, -Infinity).
func PyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX, like Python's exponent form
	i := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[i+1:])
	if exp < -4 || exp >= 16 {
		return s
	}
	s = strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// pyNumber turns the text of a JSON number into what Python writes after
// json.loads: ints are exact (any length), floats go through float() and repr.
func pyNumber(n json.Number) (string, error) {
	s := string(n)
	if !validNumber(s) {
		return "", fmt.Errorf("pyjson: %q is not a JSON number", s)
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !isRange(err) { // out of range parses to ±Inf or 0, as in Python
			return "", fmt.Errorf("pyjson: %q: %w", s, err)
		}
		return PyFloat(f), nil
	}
	if s == "-0" {
		return "0", nil
	}
	return s, nil
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// validNumber reports whether s is a number in JSON's grammar.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// decodeJSON parses data as one JSON value with numbers kept as json.Number,
// rejecting trailing data.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}
