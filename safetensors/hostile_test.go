package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawFile assembles a file from a header string and n data bytes, with the
// header length prefix computed unless hdrLen >= 0 overrides it.
func rawFile(hdr string, data int, hdrLen int64) []byte {
	var b []byte
	if hdrLen < 0 {
		hdrLen = int64(len(hdr))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(hdrLen))
	b = append(b, hdr...)
	return append(b, make([]byte, data)...)
}

// Each case is one rule of the header contract; the error must name the
// file and, where there is one, the tensor.
func TestHostileHeaders(t *testing.T) {
	cases := []struct {
		name   string
		file   []byte
		errHas []string
	}{
		{"OutOfRangeOffsets", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8, -1),
			[]string{`tensor "a"`, "out of range"}},
		{"OverlappingRanges", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12, -1),
			[]string{`tensor "b"`, "overlap"}},
		{"Hole", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12, -1),
			[]string{`tensor "b"`, "hole"}},
		{"HoleAtStart", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, -1),
			[]string{`tensor "a"`, "hole"}},
		{"TrailingBytes", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8, -1),
			[]string{"trailing bytes"}},
		{"HugeHeaderLength", rawFile(`{}`, 0, 1<<62),
			[]string{"header length", "limit"}},
		{"HeaderPastEOF", rawFile(`{}`, 0, 1000),
			[]string{"past the end"}},
		{"TooSmall", []byte{1, 2, 3},
			[]string{"too small"}},
		{"UnknownDType", rawFile(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, 4, -1),
			[]string{`tensor "a"`, `unknown dtype "F12"`}},
		{"DuplicateNames", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, -1),
			[]string{`tensor "a"`, "duplicate"}},
		{"ShapeOverflow", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0, -1),
			[]string{`tensor "a"`, "overflows"}},
		{"ShapeOverflowWraps", rawFile(`{"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, 0, -1),
			[]string{`tensor "a"`, "overflows"}},
		{"ShapeTooBigForInt64", rawFile(`{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]}}`, 0, -1),
			[]string{`tensor "a"`, "out of range"}},
		{"SizeMismatch", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8, -1),
			[]string{`tensor "a"`, "needs 12"}},
		{"EndBeforeBegin", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8, -1),
			[]string{`tensor "a"`, "end before"}},
		{"NegativeOffset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 4, -1),
			[]string{`tensor "a"`, "non-negative"}},
		{"FloatDim", rawFile(`{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, 4, -1),
			[]string{`tensor "a"`, "non-negative integer"}},
		{"ThreeOffsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, 4, -1),
			[]string{`tensor "a"`, "expected 2"}},
		{"MissingField", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4, -1),
			[]string{`tensor "a"`, "missing field shape"}},
		{"DuplicateField", rawFile(`{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, 4, -1),
			[]string{`tensor "a"`, "duplicate field dtype"}},
		{"InvalidUTF8", rawFile("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1),
			[]string{"UTF-8"}},
		{"NotJSON", rawFile(`{"a":`, 0, -1),
			[]string{"unexpected end of JSON"}},
		{"NotAnObject", rawFile(`[1,2]`, 0, -1),
			[]string{"invalid header JSON"}},
		{"TrailingGarbage", rawFile(`{}x`, 0, -1),
			[]string{"trailing characters"}},
		{"TrailingNUL", rawFile("{}\x00", 0, -1),
			[]string{"trailing characters"}},
		{"MetadataNotString", rawFile(`{"__metadata__":{"format":1}}`, 0, -1),
			[]string{`__metadata__["format"] must be a string`}},
		{"MetadataNotObject", rawFile(`{"__metadata__":"pt"}`, 0, -1),
			[]string{"__metadata__ must be an object"}},
		{"MetadataDuplicateKey", rawFile(`{"__metadata__":{"k":"a","k":"b"}}`, 0, -1),
			[]string{"duplicate key"}},
		{"EntryNotObject", rawFile(`{"a":[1]}`, 0, -1),
			[]string{`tensor "a"`, "must be an object"}},
		{"SubByteDType", rawFile(`{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, 1, -1),
			[]string{`tensor "a"`, "unknown dtype"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".safetensors")
			if err := os.WriteFile(p, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatal("Open accepted a broken file")
			}
			msg := err.Error()
			if !strings.Contains(msg, p) {
				t.Errorf("error does not name the file: %v", err)
			}
			for _, s := range c.errHas {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %q", msg, s)
				}
			}
		})
	}
}

// Things Python's reader accepts must stay accepted.
func TestLenientHeaders(t *testing.T) {
	cases := map[string][]byte{
		"null metadata":    rawFile(`{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4, -1),
		"unknown field":    rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"x":[1]}}}`, 4, -1),
		"any order":        rawFile(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"shape":[1],"data_offsets":[0,4],"dtype":"F32"}}`, 8, -1),
		"two empty":        rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, 0, -1),
		"whitespace":       rawFile(" {\n\"a\" : {\"dtype\":\"U8\",\"shape\":[ 1 ],\"data_offsets\":[0,1]} }\t\r\n  ", 1, -1),
		"metadata last":    rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"format":"pt","x":"y"}}`, 1, -1),
		"no tensors":       rawFile(`{}`, 0, -1),
		"unpadded header":  rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1, -1),
		"escaped name":     rawFile(`{"a\"b\u00fc":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1, -1),
		"large valid dims": rawFile(`{"a":{"dtype":"U8","shape":[0,9223372036854775807],"data_offsets":[0,0]}}`, 0, -1),
	}
	dir := t.TempDir()
	for name, b := range cases {
		p := filepath.Join(dir, "x.safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, n := range f.Names() {
			if _, err := f.Bytes(n); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		f.Close()
	}
}

func TestMetadataOrderKept(t *testing.T) {
	hdr := `{"__metadata__":{"z":"1","a":"2"},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`
	hdr += strings.Repeat(" ", (8-len(hdr)%8)%8)
	raw := rawFile(hdr, 1, -1)
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if k := f.MetadataKeys(); len(k) != 2 || k[0] != "z" {
		t.Fatalf("keys %v", k)
	}
	out := filepath.Join(t.TempDir(), "o.safetensors")
	b, _ := f.Bytes("t")
	err = WriteFileOptions(out, []Tensor{{Name: "t", DType: U8, Shape: []int64{1}, Data: b}},
		FileOptions{Metadata: f.Metadata(), MetadataKeys: f.MetadataKeys()})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, raw) {
		t.Fatalf("got %q\nwant %q", got, raw)
	}
}

func TestWriterRejectsBadTensors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]Tensor{
		"duplicate":      {{Name: "a", DType: U8, Shape: []int64{1}, Data: []byte{1}}, {Name: "a", DType: U8, Shape: []int64{1}, Data: []byte{1}}},
		"size mismatch":  {{Name: "a", DType: F32, Shape: []int64{2}, Data: []byte{1}}},
		"unknown dtype":  {{Name: "a", DType: "X", Shape: []int64{1}, Data: []byte{1}}},
		"negative dim":   {{Name: "a", DType: U8, Shape: []int64{-1}, Data: []byte{}}},
		"no data":        {{Name: "a", DType: U8, Shape: []int64{1}}},
		"bad utf8":       {{Name: "a\xff", DType: U8, Shape: []int64{1}, Data: []byte{1}}},
		"metadata name":  {{Name: "__metadata__", DType: U8, Shape: []int64{1}, Data: []byte{1}}},
		"short stream":   {{Name: "a", DType: U8, Shape: []int64{4}, Write: func(w io.Writer) error { _, err := w.Write([]byte{1}); return err }}},
		"long stream":    {{Name: "a", DType: U8, Shape: []int64{1}, Write: func(w io.Writer) error { _, err := w.Write([]byte{1, 2}); return err }}},
		"failing stream": {{Name: "a", DType: U8, Shape: []int64{1}, Write: func(w io.Writer) error { return errors.New("disk on fire") }}},
	}
	for name, ts := range cases {
		p := filepath.Join(dir, "model.safetensors")
		if err := WriteFile(p, ts, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
		// Nothing that looks complete, and no temp files, are left behind.
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 {
			t.Fatalf("%s: left %v", name, entries[0].Name())
		}
	}
}

// A failed rewrite leaves the previous complete file in place.
func TestFailedWriteKeepsOldFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "model.safetensors")
	good := []Tensor{{Name: "a", DType: U8, Shape: []int64{1}, Data: []byte{7}}}
	if err := WriteFile(p, good, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	bad := []Tensor{{Name: "a", DType: U8, Shape: []int64{1}, Write: func(w io.Writer) error { return errors.New("boom") }}}
	if err := WriteFile(p, bad, nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Fatal("old file changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("%d entries left", len(entries))
	}
}
