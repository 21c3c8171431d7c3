package safetensors

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// randTensors builds a small state dict covering every convertible dtype.
func randTensors(r *rand.Rand) []Tensor {
	var ts []Tensor
	add := func(name string, d DType, shape ...int64) {
		t := Tensor{Name: name, DType: d, Shape: shape}
		b := make([]byte, t.NumBytes())
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		if d == BOOL {
			for i := range b {
				b[i] &= 1
			}
		}
		if d.IsFloat() { // finite values so round trips compare with ==
			vals := make([]float32, t.NumBytes()/int64(d.Size()))
			for i := range vals {
				vals[i] = float32(r.NormFloat64())
			}
			b, _ = EncodeFloat32(d, vals)
		}
		t.Data = b
		ts = append(ts, t)
	}
	add("layers.0.mlp.down_proj.weight", BF16, 8, 16)
	add("layers.0.input_layernorm.weight", BF16, 16)
	add("fc.weight", F16, 4, 12)
	add("lm_head.weight", F32, 10, 4)
	add("embed.weight", F64, 3, 5)
	add("d2t", I64, 10)
	add("ids32", I32, 7)
	add("ids16", I16, 3)
	add("ids8", I8, 5)
	add("bytes", U8, 9)
	add("t2d", BOOL, 33)
	add("scalar", F32)
	add("empty", F32, 0, 4)
	return ts
}

func checkTensors(t *testing.T, get func(string) ([]byte, error), info func(string) (TensorInfo, bool), want []Tensor) {
	t.Helper()
	for _, w := range want {
		ti, ok := info(w.Name)
		if !ok {
			t.Fatalf("tensor %s missing", w.Name)
		}
		if ti.DType != w.DType || !slices.Equal(ti.Shape, w.Shape) {
			t.Fatalf("tensor %s: got %s %v, want %s %v", w.Name, ti.DType, ti.Shape, w.DType, w.Shape)
		}
		b, err := get(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, w.Data) {
			t.Fatalf("tensor %s: bytes differ", w.Name)
		}
	}
}

func TestRoundTripStreaming(t *testing.T) {
	want := randTensors(rand.New(rand.NewPCG(1, 2)))
	ts := slices.Clone(want)
	for i := range ts {
		if i%2 == 1 { // stream every other tensor, in odd-sized writes
			data := ts[i].Data
			ts[i].Data = nil
			ts[i].Write = func(w io.Writer) error {
				for len(data) > 0 {
					n := min(3, len(data))
					if _, err := w.Write(data[:n]); err != nil {
						return err
					}
					data = data[n:]
				}
				return nil
			}
		}
	}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkTensors(t, f.Bytes, f.Info, want)
	if len(f.Names()) != len(want) {
		t.Fatalf("%d names, want %d", len(f.Names()), len(want))
	}
	// Same bytes as writing everything from Data.
	p2 := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(p2, want, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(p2)
	if !bytes.Equal(a, b) {
		t.Fatal("streamed file differs from the in-memory one")
	}
}

func TestFloatAndIntDecoding(t *testing.T) {
	vals := []float32{0, -0.0, 1, -1.5, 3.140625, 1e-3, 65504, float32(math.Inf(1))}
	dir := t.TempDir()
	var ts []Tensor
	for _, d := range []DType{F32, F16, BF16, F64} {
		b, err := EncodeFloat32(d, vals)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, Tensor{Name: "x" + string(d), DType: d, Shape: []int64{int64(len(vals))}, Data: b})
	}
	ints := []int64{0, 1, -1, 127, -128}
	i64 := make([]byte, 0)
	i32 := make([]byte, 0)
	i16 := make([]byte, 0)
	i8 := make([]byte, 0)
	for _, v := range ints {
		i64 = binary.LittleEndian.AppendUint64(i64, uint64(v))
		i32 = binary.LittleEndian.AppendUint32(i32, uint32(v))
		i16 = binary.LittleEndian.AppendUint16(i16, uint16(v))
		i8 = append(i8, byte(v))
	}
	ts = append(ts,
		Tensor{Name: "i64", DType: I64, Shape: []int64{5}, Data: i64},
		Tensor{Name: "i32", DType: I32, Shape: []int64{5}, Data: i32},
		Tensor{Name: "i16", DType: I16, Shape: []int64{5}, Data: i16},
		Tensor{Name: "i8", DType: I8, Shape: []int64{5}, Data: i8},
		Tensor{Name: "u8", DType: U8, Shape: []int64{3}, Data: []byte{0, 200, 255}},
		Tensor{Name: "b", DType: BOOL, Shape: []int64{3}, Data: []byte{1, 0, 1}},
	)
	p := filepath.Join(dir, "m.safetensors")
	if err := WriteFile(p, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, d := range []DType{F32, F16, BF16, F64} {
		got, err := f.Float32("x" + string(d))
		if err != nil {
			t.Fatal(err)
		}
		// All values are exactly representable in each type except 1e-3
		// (rounded) and 65504 in BF16 (rounds to 65536).
		for i, v := range vals {
			if v == 1e-3 || (d == BF16 && v == 65504) {
				continue
			}
			if got[i] != v || math.Signbit(float64(got[i])) != math.Signbit(float64(v)) {
				t.Errorf("%s[%d] = %v, want %v", d, i, got[i], v)
			}
		}
	}
	for _, n := range []string{"i64", "i32", "i16", "i8"} {
		got, err := f.Int64(n)
		if err != nil || !slices.Equal(got, ints) {
			t.Errorf("%s = %v %v, want %v", n, got, err, ints)
		}
	}
	if got, _ := f.Int64("u8"); !slices.Equal(got, []int64{0, 200, 255}) {
		t.Errorf("u8 = %v", got)
	}
	if got, _ := f.Int64("b"); !slices.Equal(got, []int64{1, 0, 1}) {
		t.Errorf("bool = %v", got)
	}
	if _, err := f.Float32("i64"); err == nil {
		t.Error("Float32 of an I64 tensor: no error")
	}
	if _, err := f.Int64("xF32"); err == nil {
		t.Error("Int64 of an F32 tensor: no error")
	}
	if v, ok := f.Float32View("xF32"); !ok || v[3] != -1.5 {
		t.Errorf("Float32View = %v %v", v, ok)
	}
	if _, err := f.Bytes("nope"); err == nil {
		t.Error("missing tensor: no error")
	}
}

func TestWriteDirShardedRoundTrip(t *testing.T) {
	ts := randTensors(rand.New(rand.NewPCG(3, 4)))
	dir := t.TempDir()
	if err := WriteDir(dir, ts, map[string]string{"format": "pt"}, 300); err != nil {
		t.Fatal(err)
	}
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Sharded() || len(c.Files()) < 2 {
		t.Fatalf("expected shards, got %d files", len(c.Files()))
	}
	checkTensors(t, c.Bytes, c.Info, ts)
	if len(c.Names()) != len(ts) {
		t.Fatalf("%d names, want %d", len(c.Names()), len(ts))
	}
	if m := c.Metadata(); m["format"] != "pt" {
		t.Fatalf("metadata %v", m)
	}
	var total int64
	for i := range ts {
		total += ts[i].NumBytes()
	}
	if got, ok := c.Index().TotalSize(); !ok || got != total {
		t.Fatalf("total_size %d, want %d", got, total)
	}
	// Re-save unsharded into the same dir: shards and index must go.
	if err := WriteDir(dir, ts, map[string]string{"format": "pt"}, 0); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != SingleFileName {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("dir holds %v, want only %s", names, SingleFileName)
	}
	c2, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	checkTensors(t, c2.Bytes, c2.Info, ts)
}
