// Package golden reads the small tensor files that the PyTorch generator
// scripts under testdata/ write for tests: NAME.json, an index with a meta
// object and one entry per tensor, and NAME.bin, the raw little-endian data.
// The files are checked like any input: bad offsets or shapes are errors.
package golden

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Entry locates one tensor in the .bin file.
type Entry struct {
	DType  string `json:"dtype"` // "f32" or "i32"
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"` // bytes
}

// File is one loaded golden file.
type File struct {
	Path    string
	Meta    map[string]json.RawMessage `json:"meta"`
	Tensors map[string]Entry           `json:"tensors"`
	data    []byte
}

const maxBytes = 64 << 20

// Open reads base+".json" and base+".bin".
func Open(base string) (*File, error) {
	idx, err := os.ReadFile(base + ".json")
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	st, err := os.Stat(base + ".bin")
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	if st.Size() > maxBytes {
		return nil, fmt.Errorf("golden: %s.bin: %d bytes is too large", base, st.Size())
	}
	data, err := os.ReadFile(base + ".bin")
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	return Parse(base, idx, data)
}

// Parse builds a File from the index JSON and the data bytes; name is used in errors.
func Parse(name string, index, data []byte) (*File, error) {
	f := &File{Path: name}
	if err := json.Unmarshal(index, f); err != nil {
		return nil, fmt.Errorf("golden: %s.json: %w", name, err)
	}
	if len(data) > maxBytes {
		return nil, fmt.Errorf("golden: %s.bin: %d bytes is too large", name, len(data))
	}
	f.data = data
	return f, nil
}

func (f *File) raw(name, dtype string) ([]byte, []int, error) {
	e, ok := f.Tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("golden: %s: no tensor %q", f.Path, name)
	}
	if e.DType != dtype {
		return nil, nil, fmt.Errorf("golden: %s: tensor %q is %s, not %s", f.Path, name, e.DType, dtype)
	}
	n := int64(1)
	for _, d := range e.Shape {
		if d < 0 || d > maxBytes {
			return nil, nil, fmt.Errorf("golden: %s: tensor %q has bad shape %v", f.Path, name, e.Shape)
		}
		n *= int64(d)
		if n > maxBytes {
			return nil, nil, fmt.Errorf("golden: %s: tensor %q has bad shape %v", f.Path, name, e.Shape)
		}
	}
	end := e.Offset + 4*n
	if e.Offset < 0 || end > int64(len(f.data)) {
		return nil, nil, fmt.Errorf("golden: %s: tensor %q [%d, %d) outside the %d-byte data", f.Path, name, e.Offset, end, len(f.data))
	}
	return f.data[e.Offset:end], e.Shape, nil
}

// F32 returns a float32 tensor and its shape.
func (f *File) F32(name string) ([]float32, []int, error) {
	b, shape, err := f.raw(name, "f32")
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, shape, nil
}

// I32 returns an int32 tensor and its shape.
func (f *File) I32(name string) ([]int32, []int, error) {
	b, shape, err := f.raw(name, "i32")
	if err != nil {
		return nil, nil, err
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, shape, nil
}

// MetaFloat returns a number from the meta object.
func (f *File) MetaFloat(key string) (float64, error) {
	raw, ok := f.Meta[key]
	if !ok {
		return 0, fmt.Errorf("golden: %s: no meta %q", f.Path, key)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("golden: %s: meta %q: %w", f.Path, key, err)
	}
	return v, nil
}

// MetaInto decodes a meta value into v.
func (f *File) MetaInto(key string, v any) error {
	raw, ok := f.Meta[key]
	if !ok {
		return fmt.Errorf("golden: %s: no meta %q", f.Path, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("golden: %s: meta %q: %w", f.Path, key, err)
	}
	return nil
}
