package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	f.Helper()
	for _, v := range upstreamVectors() {
		f.Add(v.want)
	}
	for _, p := range []string{"mixed.safetensors", "sharded/model-00002-of-00004.safetensors"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "golden", p)); err == nil {
			f.Add(b)
		}
	}
	for _, h := range []string{
		`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`,
		`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`,
		`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`,
		`{"__metadata__":{"format":1}}`,
		`{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`,
		`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`,
	} {
		f.Add(rawFile(h, 16, -1))
	}
	f.Add(rawFile(`{}`, 0, 1<<40))
}

// FuzzHeader: the parser never panics, and whatever it accepts is a
// consistent layout that the writer reproduces and the parser re-reads.
func FuzzHeader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, start, err := parseBuffer("fuzz", b)
		// Differential check against the encoding/json-based reference.
		if len(b) >= 8 {
			if n := binary.LittleEndian.Uint64(b); n <= uint64(len(b)-8) {
				_, rerr := parseHeaderRef("fuzz", b[8:8+n], int64(len(b))-8-int64(n))
				if (err == nil) != (rerr == nil) {
					t.Fatalf("parsers disagree: fast %v, reference %v", err, rerr)
				}
				if err == nil && !json.Valid(b[8:8+n]) {
					t.Fatalf("accepted invalid JSON %q", b[8:8+n])
				}
			}
		}
		if err != nil {
			return
		}
		data := b[start:]
		var pos int64
		ts := make([]Tensor, len(h.tensors))
		for i, ti := range h.tensors {
			if ti.Begin != pos || ti.End > int64(len(data)) || !ti.DType.Valid() {
				t.Fatalf("accepted bad layout %+v", ti)
			}
			n, ok := tensorBytes(ti.DType, ti.Shape)
			if !ok || n != ti.End-ti.Begin {
				t.Fatalf("accepted bad size %+v", ti)
			}
			pos = ti.End
			ts[i] = Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: data[ti.Begin:ti.End]}
		}
		if pos != int64(len(data)) {
			t.Fatalf("accepted %d trailing bytes", int64(len(data))-pos)
		}
		if h.hasMeta {
			if _, err := metadataKeys(h.meta, h.metaKeys); err != nil {
				t.Fatal(err)
			}
		}
		var meta map[string]string
		if h.hasMeta {
			meta = h.meta
		}
		infos, order, err := layout(ts)
		if err != nil {
			if bytes.Contains([]byte(err.Error()), []byte("__metadata__")) {
				return
			}
			t.Fatalf("writer rejects what the reader accepted: %v", err)
		}
		hdr := encodeHeader(infos, meta, h.metaKeys)
		var out []byte
		out = append(out, rawFile(string(hdr), 0, -1)...)
		for _, j := range order {
			out = append(out, ts[j].Data...)
		}
		h2, _, err := parseBuffer("fuzz-rewrite", out)
		if err != nil {
			t.Fatalf("re-read of rewritten file: %v", err)
		}
		if len(h2.tensors) != len(h.tensors) {
			t.Fatalf("rewrite has %d tensors, want %d", len(h2.tensors), len(h.tensors))
		}
		byName := map[string]TensorInfo{}
		for _, ti := range h.tensors {
			byName[ti.Name] = ti
		}
		for _, ti := range h2.tensors {
			o, ok := byName[ti.Name]
			if !ok || o.DType != ti.DType || !slices.Equal(o.Shape, ti.Shape) {
				t.Fatalf("rewrite changed %q: %+v vs %+v", ti.Name, ti, o)
			}
		}
	})
}

// FuzzIndex: ParseIndex never panics; accepted weight maps survive
// EncodeIndex and never name a path outside the directory.
func FuzzIndex(f *testing.F) {
	for _, p := range []string{"sharded", "sharded_old"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "golden", p, IndexFileName)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"metadata":{"total_size":1},"weight_map":{"a":"../x.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"x","a":"y"}}`))
	f.Add([]byte(`{"weight_map":{"a":1}}`))
	f.Add([]byte(`{"metadata":[],"weight_map":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := ParseIndex(b)
		if err != nil {
			return
		}
		for n, s := range ix.WeightMap {
			if filepath.Base(s) != s || s == ".." || s == "." {
				t.Fatalf("accepted shard %q for %q", s, n)
			}
		}
		ix2, err := ParseIndex(EncodeIndex(1, 0, ix.WeightMap))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(ix2.WeightMap) != len(ix.WeightMap) {
			t.Fatal("weight map changed")
		}
		for k, v := range ix.WeightMap {
			if ix2.WeightMap[k] != v {
				t.Fatalf("weight map entry %q changed", k)
			}
		}
	})
}

// FuzzHeaderJSON mutates header text directly (FuzzHeader mostly mutates
// whole files) and checks the fast parser against the reference parser:
// same accept/reject decision, same tensors and metadata.
func FuzzHeaderJSON(f *testing.F) {
	for _, h := range []string{
		`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BOOL","shape":[4],"data_offsets":[12,16]}}`,
		`{"a\u00e9\ud83d\ude00\n":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":[{"y":null},true,-1.5e3]}}`,
		`{"__metadata__":null,"e":{"shape":[0],"data_offsets":[16,16],"dtype":"I64"},"z":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}`,
		` { } `,
	} {
		f.Add([]byte(h), uint16(16))
	}
	f.Fuzz(func(t *testing.T, hdr []byte, dataLen uint16) {
		h, err := parseHeader("fuzz", hdr, int64(dataLen))
		r, rerr := parseHeaderRef("fuzz", hdr, int64(dataLen))
		if (err == nil) != (rerr == nil) {
			t.Fatalf("parsers disagree on %q: fast %v, reference %v", hdr, err, rerr)
		}
		if err != nil {
			return
		}
		if !json.Valid(hdr) {
			t.Fatalf("accepted invalid JSON %q", hdr)
		}
		if len(h.tensors) != len(r.tensors) || h.hasMeta != r.hasMeta || !slices.Equal(h.metaKeys, r.metaKeys) {
			t.Fatalf("parsers disagree on %q", hdr)
		}
		for i := range h.tensors {
			a, b := h.tensors[i], r.tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || a.Begin != b.Begin || a.End != b.End {
				t.Fatalf("tensor %d: %+v vs %+v", i, a, b)
			}
		}
		for k, v := range h.meta {
			if r.meta[k] != v {
				t.Fatalf("metadata %q: %q vs %q", k, v, r.meta[k])
			}
		}
	})
}
