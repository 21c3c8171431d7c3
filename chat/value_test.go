package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/speculators-go/speculators/internal/jinja"
)

// The encoding/json based decoder the fast one replaced, kept as its test
// oracle.

// decodeJSON turns one JSON value into a template value, keeping object key
// order as Python's json.loads does (a duplicated key keeps its first
// position and its last value). Integers stay integers and floats stay
// floats, so tojson writes them back the way Python would.
func decodeJSONStd(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValueStd(dec, 0)
	if err != nil {
		return jinja.Undefined(), err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return jinja.Undefined(), errors.New("invalid JSON: data after the top-level value")
		}
		return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
	}
	return v, nil
}

func decodeValueStd(dec *json.Decoder, depth int) (jinja.Value, error) {
	if depth > maxDepth {
		return jinja.Undefined(), fmt.Errorf("invalid JSON: nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
	}
	switch t := tok.(type) {
	case nil:
		return jinja.None(), nil
	case bool:
		return jinja.NewBool(t), nil
	case string:
		return jinja.NewString(t), nil
	case json.Number:
		return numberValue(string(t))
	case json.Delim:
		switch t {
		case '[':
			items := []jinja.Value{}
			for dec.More() {
				v, err := decodeValueStd(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				items = append(items, v)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
			}
			return jinja.NewList(items), nil
		case '{':
			d := jinja.NewDict()
			dict := d.AsDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
				}
				key, ok := kt.(string)
				if !ok {
					return jinja.Undefined(), fmt.Errorf("invalid JSON: object key %v is not a string", kt)
				}
				v, err := decodeValueStd(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				dict.Set(key, v)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), fmt.Errorf("invalid JSON: %w", err)
			}
			return d, nil
		}
	}
	return jinja.Undefined(), fmt.Errorf("invalid JSON: unexpected token %v", tok)
}

// FuzzDecodeJSON checks the hand-written decoder against encoding/json:
// both accept or both reject, and accepted values are identical (kinds,
// key order, text).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"role": "user", "content": "hi"}`, `[1, 2.5, -0, 1e3, 12345678901234567890, -1.5E-7]`,
		`{"a": {"b": [true, false, null]}, "a": 2}`, `"\u00e9\ud83d\ude00\ud800x\udc00"`, `"\x"`, "\"\xff\xfe\"",
		`[1,]`, `{"a" 1}`, `01`, `-`, `1.`, `1e`, ` [ ] `, `{} x`, `"\t\n\/"`, "\"a\tb\"", `[[[[[]]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, errFast := decodeJSON(data)
		std, errStd := decodeJSONStd(data)
		if (errFast == nil) != (errStd == nil) {
			t.Fatalf("%q: fast err %v, encoding/json err %v", data, errFast, errStd)
		}
		if errFast == nil && (fast.String() != std.String() || jinja.PyStr(fast) != jinja.PyStr(std)) {
			t.Fatalf("%q: fast %s, encoding/json %s", data, fast.String(), std.String())
		}
	})
}

func TestDecodeJSONKinds(t *testing.T) {
	v, err := decodeJSON([]byte(`{"i": 3, "f": 3.0, "b": 123456789012345678901234567890, "s": "x", "z": {"b": 1, "a": 2, "b": 3}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{'i': 3, 'f': 3.0, 'b': 123456789012345678901234567890, 's': 'x', 'z': {'b': 3, 'a': 2}}`
	if v.String() != want {
		// want is repr(json.loads(...)) printed by Python 3.
		t.Fatalf("got %s, want %s", v.String(), want)
	}
	if _, err := decodeJSON(bytes.Repeat([]byte("["), maxDepth+2)); err == nil {
		t.Fatal("deep nesting accepted")
	}
	_ = fmt.Sprint
}

// benchMessages is a 21-message conversation as JSON.
func benchMessages() [][]byte {
	msgs := [][]byte{[]byte(`{"role": "system", "content": "You are helpful."}`)}
	for i := range 10 {
		msgs = append(msgs,
			fmt.Appendf(nil, `{"role": "user", "content": "Question %d: explain the thing in some detail, please. Ünïcode ok."}`, i),
			fmt.Appendf(nil, `{"role": "assistant", "content": "<think>\nreasoning %d\n</think>\n\nAnswer %d.", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1.5, "y": [1, 2]}}}]}`, i, i))
	}
	return msgs
}

// BenchmarkDecodeJSON compares the hand-written decoder with the
// encoding/json one it replaced, on the same messages.
func BenchmarkDecodeJSON(b *testing.B) {
	msgs := benchMessages()
	for _, c := range []struct {
		name string
		fn   func([]byte) (jinja.Value, error)
	}{{"fast", decodeJSON}, {"encoding_json", decodeJSONStd}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, m := range msgs {
					if _, err := c.fn(m); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
