package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header, as the Rust reader does
// (MAX_HEADER_SIZE = 100_000_000).
const MaxHeaderSize = 100_000_000

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int64
	Begin, End int64 // data_offsets, relative to the start of the data section
}

// NumElements is the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// NumBytes is End-Begin.
func (t TensorInfo) NumBytes() int64 { return t.End - t.Begin }

// header is a parsed and validated safetensors header.
type header struct {
	tensors  []TensorInfo // in data order (ascending offsets)
	meta     map[string]string
	metaKeys []string // __metadata__ keys in file order
	hasMeta  bool     // __metadata__ present (possibly empty)
}

// headerError names the file and, when known, the tensor.
func headerError(path, tensor, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tensor != "" {
		return fmt.Errorf("safetensors: %s: tensor %q: %s", path, tensor, msg)
	}
	return fmt.Errorf("safetensors: %s: %s", path, msg)
}

// parseHeader parses the JSON header hdr of the file at path and validates
// it against a data section of dataLen bytes. The rules are those of the
// Rust reader (Metadata::validate and read_metadata): valid UTF-8 JSON,
// known dtypes, byte ranges equal to shape x itemsize, ranges that tile the
// data section from 0 to its end without holes or overlaps, plus duplicate
// names and duplicate fields rejected.
func parseHeader(path string, hdr []byte, dataLen int64) (*header, error) {
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
			if err := h.parseMeta(path, dec); err != nil {
				return nil, err
			}
			continue
		}
		ti, err := parseTensorEntry(path, name, dec)
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

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("expected %q, found %v", string(d), tokenString(tok))
	}
	return nil
}

func tokenString(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return strconv.Quote(string(v))
	case string:
		return "string " + strconv.Quote(v)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", v)
	}
}

func (h *header) parseMeta(path string, dec *json.Decoder) error {
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

func parseTensorEntry(path, name string, dec *json.Decoder) (TensorInfo, error) {
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
			ti.Shape, err = parseUintArray(dec, -1)
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
			off, err := parseUintArray(dec, 2)
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
func parseUintArray(dec *json.Decoder, want int) ([]int64, error) {
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

// tensorBytes computes numel*itemsize with overflow checks.
func tensorBytes(d DType, shape []int64) (int64, bool) {
	n := uint64(1)
	for _, s := range shape {
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 || lo > 1<<62 {
			return 0, false
		}
		n = lo
	}
	hi, lo := bits.Mul64(n, uint64(d.Size()))
	if hi != 0 || lo > 1<<62 {
		return 0, false
	}
	return int64(lo), true
}

// validateLayout checks sizes and that the ranges tile [0, dataLen).
// tensors is sorted by offsets in place, as the Rust reader does.
func validateLayout(path string, tensors []TensorInfo, dataLen int64) error {
	for _, t := range tensors {
		n, ok := tensorBytes(t.DType, t.Shape)
		if !ok {
			return headerError(path, t.Name, "shape %v of %s overflows", t.Shape, t.DType)
		}
		if t.End < t.Begin {
			return headerError(path, t.Name, "data_offsets [%d, %d] end before they begin", t.Begin, t.End)
		}
		if t.End > dataLen {
			return headerError(path, t.Name, "data_offsets [%d, %d] out of range: the data section has %d bytes", t.Begin, t.End, dataLen)
		}
		if t.End-t.Begin != n {
			return headerError(path, t.Name, "data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %d", t.Begin, t.End, t.End-t.Begin, t.Shape, t.DType, n)
		}
	}
	slices.SortStableFunc(tensors, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			return cmpInt64(a.Begin, b.Begin)
		}
		return cmpInt64(a.End, b.End)
	})
	var pos int64
	for i, t := range tensors {
		if t.Begin < pos {
			return headerError(path, t.Name, "data_offsets [%d, %d] overlap tensor %q which ends at %d", t.Begin, t.End, tensors[i-1].Name, pos)
		}
		if t.Begin > pos {
			return headerError(path, t.Name, "data_offsets [%d, %d] leave a hole: previous data ends at %d", t.Begin, t.End, pos)
		}
		pos = t.End
	}
	if pos != dataLen {
		return headerError(path, "", "tensors cover %d bytes but the data section has %d (trailing bytes after the last tensor)", pos, dataLen)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// encodeHeader returns the padded header exactly as the Rust serializer
// (safetensors/src/tensor.rs `prepare`) writes it: compact serde_json,
// __metadata__ first, tensors in the given (already sorted) order with fields
// dtype, shape, data_offsets, then ASCII spaces up to a multiple of 8.
func encodeHeader(tensors []TensorInfo, meta map[string]string, metaKeys []string) []byte {
	var b []byte
	b = append(b, '{')
	first := true
	if meta != nil {
		b = append(b, `"__metadata__":{`...)
		for i, k := range metaKeys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, meta[k])
		}
		b = append(b, '}')
		first = false
	}
	for _, t := range tensors {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendJSONString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for i, d := range t.Shape {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, t.Begin, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, t.End, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}

// appendJSONString escapes like serde_json: only '"', '\\' and control
// characters are escaped (\b \t \n \f \r short, others \u00xx lowercase);
// non-ASCII is written as raw UTF-8. s must be valid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
