package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/internal/jinja"
)

// maxDepth bounds the nesting of JSON inputs. Python's json module stops at
// about 1,000 levels (its recursion limit); templates never need more than a
// handful.
const maxDepth = 512

// decodeJSON turns one JSON value into a template value, keeping object key
// order as Python's json.loads does (a duplicated key keeps its first
// position and its last value). Integers stay integers and floats stay
// floats, so tojson writes them back the way Python would.
func decodeJSON(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
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

func decodeValue(dec *json.Decoder, depth int) (jinja.Value, error) {
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
				v, err := decodeValue(dec, depth+1)
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
				v, err := decodeValue(dec, depth+1)
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
