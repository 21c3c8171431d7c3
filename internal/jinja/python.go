package jinja

// Python-compatible text forms of values, added in the speculators fork so
// that rendered prompts match Python Jinja2 under Hugging Face's settings
// byte for byte: str() and repr() of values, float repr, and json.dumps as
// transformers' tojson filter calls it (ensure_ascii=False by default, key
// order kept, indent, separators, sort_keys).

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/speculators-go/speculators/config"
)

// pyFloatRepr formats f as Python's repr(float) does: config.PyFloat, but
// with repr's nan, inf and -inf where json.dumps writes NaN and Infinity.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return config.PyFloat(f)
}

// pyStr is Python's str() of a value as Jinja2 prints it: strings as they
// are, None as "None", booleans as "True"/"False", containers as repr.
// Undefined prints as the empty string (jinja2.Undefined.__str__).
func pyStr(v Value) string {
	switch v.kind {
	case KindUndefined:
		return ""
	case KindNone:
		return "None"
	case KindBool:
		if v.AsBool() {
			return "True"
		}
		return "False"
	case KindInt:
		return strconv.FormatInt(v.AsInt(), 10)
	case KindBigInt:
		return v.v.(*big.Int).String()
	case KindFloat:
		return pyFloatRepr(v.AsFloat())
	case KindString:
		return v.AsString()
	case KindCallable:
		return "<function " + v.v.(Callable).Name + ">"
	}
	return v.String()
}

// maxNesting bounds recursion through nested values (Python stops at its
// recursion limit of about 1,000).
const maxNesting = 1000

// writeRepr writes Python's repr() of v.
func writeRepr(b *strings.Builder, v Value) {
	writeReprPath(b, v, nil)
}

// writeReprPath writes repr(v); path holds the containers being written, so
// a container inside itself prints as [...] or {...} as in Python.
func writeReprPath(b *strings.Builder, v Value, path []any) {
	if v.kind == KindList || v.kind == KindDict {
		for _, p := range path {
			if p == v.v {
				if v.kind == KindList {
					b.WriteString("[...]")
				} else {
					b.WriteString("{...}")
				}
				return
			}
		}
		if len(path) >= maxNesting {
			b.WriteString("...")
			return
		}
		path = append(path, v.v)
	}
	switch v.kind {
	case KindString:
		writeStringRepr(b, v.AsString())
	case KindList:
		l := v.AsList()
		open, close := byte('['), byte(']')
		if l.Tuple {
			open, close = '(', ')'
		}
		b.WriteByte(open)
		for i, item := range l.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			writeReprPath(b, item, path)
		}
		if l.Tuple && len(l.Items) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(close)
	case KindDict:
		d := v.AsDict()
		if d.Namespace {
			b.WriteString("<Namespace ")
			defer b.WriteByte('>')
		}
		b.WriteByte('{')
		for i, key := range d.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeStringRepr(b, key)
			b.WriteString(": ")
			writeReprPath(b, d.Data[key], path)
		}
		b.WriteByte('}')
	case KindUndefined:
		b.WriteString("Undefined")
	default:
		b.WriteString(pyStr(v))
	}
}

// writeStringRepr writes Python's repr() of a str: single quotes unless the
// text holds a single quote and no double quote; backslash escapes for the
// quote, backslash, \t \n \r and every non-printable character.
func writeStringRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x80 || pyPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
}

// pyPrintable follows str.isprintable for one non-ASCII character: false for
// the Other and Separator categories (space aside) and unassigned code points.
func pyPrintable(r rune) bool {
	if r == utf8.RuneError {
		return true
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp, unicode.Zs) {
		return false
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// jsonOptions are the json.dumps arguments transformers' tojson exposes.
type jsonOptions struct {
	ensureASCII bool
	indent      *string // nil: no newlines
	itemSep     string
	keySep      string
	sortKeys    bool
	active      map[any]bool // containers being encoded, to refuse cycles
}

// pyJSON encodes v as Python's json.dumps(v, **opts) would.
func pyJSON(b *strings.Builder, v Value, o *jsonOptions, level int) error {
	if v.kind == KindList || v.kind == KindDict {
		if o.active == nil {
			o.active = map[any]bool{}
		}
		if o.active[v.v] {
			return fmt.Errorf("tojson: Circular reference detected")
		}
		if level >= maxNesting {
			return fmt.Errorf("tojson: nested deeper than %d levels", maxNesting)
		}
		o.active[v.v] = true
		defer delete(o.active, v.v)
	}
	switch v.kind {
	case KindNone:
		b.WriteString("null")
	case KindBool:
		if v.AsBool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case KindInt:
		b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case KindBigInt:
		b.WriteString(v.v.(*big.Int).String())
	case KindFloat:
		b.WriteString(config.PyFloat(v.AsFloat()))
	case KindString:
		writeJSONString(b, v.AsString(), o.ensureASCII)
	case KindList:
		items := v.AsList().Items
		if len(items) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, item := range items {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			writeNewlineIndent(b, o, level+1)
			if err := pyJSON(b, item, o, level+1); err != nil {
				return err
			}
		}
		writeNewlineIndent(b, o, level)
		b.WriteByte(']')
	case KindDict:
		d := v.AsDict()
		if d.Len() == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := d.Keys
		if o.sortKeys {
			keys = append([]string(nil), keys...)
			sort.Strings(keys)
		}
		b.WriteByte('{')
		for i, key := range keys {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			writeNewlineIndent(b, o, level+1)
			writeJSONString(b, key, o.ensureASCII)
			b.WriteString(o.keySep)
			if err := pyJSON(b, d.Data[key], o, level+1); err != nil {
				return err
			}
		}
		writeNewlineIndent(b, o, level)
		b.WriteByte('}')
	case KindUndefined:
		return fmt.Errorf("tojson: Object of type Undefined is not JSON serializable")
	case KindCallable:
		return fmt.Errorf("tojson: Object of type function is not JSON serializable")
	default:
		return fmt.Errorf("tojson: value is not JSON serializable")
	}
	return nil
}

func writeNewlineIndent(b *strings.Builder, o *jsonOptions, level int) {
	if o.indent == nil {
		return
	}
	b.WriteByte('\n')
	for range level {
		b.WriteString(*o.indent)
	}
}

// writeJSONString writes s as Python's json encoder does (config.AppendPyString).
func writeJSONString(b *strings.Builder, s string, ensureASCII bool) {
	b.Write(config.AppendPyString(make([]byte, 0, len(s)+2), s, ensureASCII))
}

// PyStr returns Python's str() of v as Jinja2 prints it.
func PyStr(v Value) string { return pyStr(v) }
