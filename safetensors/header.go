package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"

	"github.com/speculators-go/speculators/config"
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
			b = appendSerdeString(b, k)
			b = append(b, ':')
			b = appendSerdeString(b, meta[k])
		}
		b = append(b, '}')
		first = false
	}
	for _, t := range tensors {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendSerdeString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendSerdeString(b, string(t.DType))
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

// appendSerdeString quotes s as serde_json does: '"', '\\' and control
// characters escaped, non-ASCII as raw UTF-8, which is Python's json.dumps
// with ensure_ascii=False.
func appendSerdeString(b []byte, s string) []byte {
	return config.AppendPyString(b, s, false)
}
