package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseHeaderRef is the first, encoding/json token-based header parser,
// kept as the reference the fast parser is fuzzed against. It parses the JSON header hdr of the file at path and validates
// it against a data section of dataLen bytes. The rules are those of the
// Rust reader (Metadata::validate and read_metadata): valid UTF-8 JSON,
// known dtypes, byte ranges equal to shape x itemsize, ranges that tile the
// data section from 0 to its end without holes or overlaps, plus duplicate
// names and duplicate fields rejected.
func parseHeaderRef(path string, hdr []byte, dataLen int64) (*header, error) {
	if !utf8.Valid(hdr) {
		return nil, headerError(path, "", "header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	bad := func(tensor string, err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return headerError(path, tensor, "invalid header JSON: %v", err)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, bad("", err)
	}
	h := &header{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, headerError(path, name, "duplicate entry in header")
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := h.parseMetaRef(path, dec); err != nil {
				return nil, err
			}
			continue
		}
		ti, err := parseTensorEntryRef(path, name, dec)
		if err != nil {
			return nil, err
		}
		h.tensors = append(h.tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, bad("", err)
	}
	// Only whitespace may follow (serde_json: "trailing characters").
	rest := hdr[dec.InputOffset():]
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, headerError(path, "", "invalid header JSON: trailing characters after the header object")
	}
	if err := validateLayout(path, h.tensors, dataLen); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *header) parseMetaRef(path string, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return headerError(path, "", "__metadata__: invalid JSON: %v", err)
	}
	if tok == nil { // serde's Option accepts null as "no metadata"
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return headerError(path, "", "__metadata__ must be an object of strings, found %s", tokenString(tok))
	}
	h.hasMeta = true
	h.meta = map[string]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return headerError(path, "", "__metadata__: invalid JSON: %v", err)
		}
		k := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return headerError(path, "", "__metadata__: invalid JSON: %v", err)
		}
		v, ok := vt.(string)
		if !ok {
			return headerError(path, "", "__metadata__[%q] must be a string, found %s", k, tokenString(vt))
		}
		if _, dup := h.meta[k]; dup {
			return headerError(path, "", "__metadata__: duplicate key %q", k)
		}
		h.meta[k] = v
		h.metaKeys = append(h.metaKeys, k)
	}
	_, err = dec.Token()
	if err != nil {
		return headerError(path, "", "__metadata__: invalid JSON: %v", err)
	}
	return nil
}

func parseTensorEntryRef(path, name string, dec *json.Decoder) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	fail := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, headerError(path, name, format, args...)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return fail("entry must be an object: %v", err)
	}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fail("invalid JSON: %v", err)
		}
		switch k := kt.(string); k {
		case "dtype":
			if haveDType {
				return fail("duplicate field dtype")
			}
			haveDType = true
			vt, err := dec.Token()
			if err != nil {
				return fail("invalid JSON: %v", err)
			}
			s, ok := vt.(string)
			if !ok {
				return fail("dtype must be a string, found %s", tokenString(vt))
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
			ti.Shape, err = parseUintArrayRef(dec, -1)
			if err != nil {
				return fail("shape: %v", err)
			}
			if ti.Shape == nil {
				ti.Shape = []int64{}
			}
		case "data_offsets":
			if haveOffsets {
				return fail("duplicate field data_offsets")
			}
			haveOffsets = true
			off, err := parseUintArrayRef(dec, 2)
			if err != nil {
				return fail("data_offsets: %v", err)
			}
			ti.Begin, ti.End = off[0], off[1]
		default:
			// serde ignores unknown fields of TensorInfo; so do we.
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail("invalid JSON: %v", err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return fail("invalid JSON: %v", err)
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

// parseUintArray reads a JSON array of non-negative integers that fit an
// int64; want >= 0 requires exactly that many.
func parseUintArrayRef(dec *json.Decoder, want int) ([]int64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	var out []int64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("expected a non-negative integer, found %s", tokenString(tok))
		}
		s := string(num)
		if strings.ContainsAny(s, ".eE-+") {
			return nil, fmt.Errorf("expected a non-negative integer, found %s", s)
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %s out of range", s)
		}
		out = append(out, v)
		if len(out) > 1<<20 {
			return nil, fmt.Errorf("too many elements")
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if want >= 0 && len(out) != want {
		return nil, fmt.Errorf("expected %d integers, found %d", want, len(out))
	}
	return out, nil
}
