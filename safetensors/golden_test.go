package safetensors

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The goldens under testdata/golden are written by testdata/gen_safetensors.py
// (torch values, upstream serialization and sharding rules; see its doc).

type manifest struct {
	Order           [][]json.RawMessage `json:"order"`
	MaxShardSize    int64               `json:"max_shard_size"`
	TotalParameters int64               `json:"total_parameters"`
}

func readManifest(t *testing.T, path string) (names []string) {
	t.Helper()
	var m manifest
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Order {
		var n string
		if err := json.Unmarshal(e[0], &n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

// tensorsFrom rebuilds the state dict in manifest order from a reader.
func tensorsFrom(t *testing.T, names []string, info func(string) (TensorInfo, bool), get func(string) ([]byte, error)) []Tensor {
	t.Helper()
	var ts []Tensor
	for _, n := range names {
		ti, ok := info(n)
		if !ok {
			t.Fatalf("golden lacks tensor %q", n)
		}
		b, err := get(n)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, Tensor{Name: n, DType: ti.DType, Shape: ti.Shape, Data: b})
	}
	return ts
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		n := 0
		for n < len(g) && n < len(w) && g[n] == w[n] {
			n++
		}
		t.Fatalf("%s differs from golden %s at byte %d (sizes %d, %d)", got, want, n, len(g), len(w))
	}
}

func TestGoldenSingleFile(t *testing.T) {
	golden := filepath.Join("testdata", "golden", "mixed.safetensors")
	f, err := Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := readManifest(t, filepath.Join("testdata", "golden", "mixed.manifest.json"))
	if len(f.Names()) != len(names) {
		t.Fatalf("golden has %d tensors, manifest %d", len(f.Names()), len(names))
	}
	ts := tensorsFrom(t, names, f.Info, f.Bytes)
	out := filepath.Join(t.TempDir(), "out.safetensors")
	if err := WriteFile(out, ts, f.Metadata()); err != nil {
		t.Fatal(err)
	}
	sameFile(t, out, golden)
	// The reader sees what torch wrote.
	if v, err := f.Float32("scalar"); err != nil || len(v) != 1 || v[0] != 2.5 {
		t.Fatalf("scalar = %v %v", v, err)
	}
	if ti, _ := f.Info("empty"); ti.NumElements() != 0 || len(ti.Shape) != 2 {
		t.Fatalf("empty = %+v", ti)
	}
}

func TestGoldenSharded(t *testing.T) {
	for _, name := range []string{"sharded", "sharded_old"} {
		t.Run(name, func(t *testing.T) {
			gdir := filepath.Join("testdata", "golden", name)
			var m manifest
			mb, _ := os.ReadFile(gdir + ".manifest.json")
			if err := json.Unmarshal(mb, &m); err != nil {
				t.Fatal(err)
			}
			c, err := OpenDir(gdir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ts := tensorsFrom(t, readManifest(t, gdir+".manifest.json"), c.Info, c.Bytes)
			out := t.TempDir()
			err = WriteDirOptions(out, ts, DirOptions{
				Metadata:        map[string]string{"format": "pt"},
				MaxShardSize:    m.MaxShardSize,
				TotalParameters: m.TotalParameters,
			})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadDir(gdir)
			got, _ := os.ReadDir(out)
			if len(got) != len(want) {
				t.Fatalf("wrote %d files, golden has %d", len(got), len(want))
			}
			for _, e := range want {
				sameFile(t, filepath.Join(out, e.Name()), filepath.Join(gdir, e.Name()))
			}
		})
	}
}

// Conversions against torch's .to(bfloat16/float16/float32).
func TestGoldenConversions(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "golden", "conversions.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := f.Float32("src")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d          DType
		enc, wider string
	}{{BF16, "src.bf16", "src.bf16.f32"}, {F16, "src.f16", "src.f16.f32"}, {F64, "src.f64", ""}} {
		got, err := EncodeFloat32(c.d, src)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := f.Bytes(c.enc)
		if !bytes.Equal(got, want) {
			for i := 0; i < len(got); i += c.d.Size() {
				if !bytes.Equal(got[i:i+c.d.Size()], want[i:i+c.d.Size()]) {
					t.Errorf("%s: element %d (%v): got % x, torch % x", c.d, i/c.d.Size(), src[i/c.d.Size()], got[i:i+c.d.Size()], want[i:i+c.d.Size()])
					break
				}
			}
		}
		if c.wider == "" {
			continue
		}
		dec, err := f.Float32(c.enc)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := f.Float32(c.wider)
		for i := range dec {
			if math.Float32bits(dec[i]) != math.Float32bits(ref[i]) && !(math.IsNaN(float64(dec[i])) && math.IsNaN(float64(ref[i]))) {
				t.Fatalf("%s decode element %d: got %v, torch %v", c.d, i, dec[i], ref[i])
			}
		}
	}
	f64, _ := f.Float32("src.f64")
	for i := range src {
		if math.Float32bits(f64[i]) != math.Float32bits(src[i]) && !math.IsNaN(float64(src[i])) {
			t.Fatalf("F64 decode element %d: got %v, want %v", i, f64[i], src[i])
		}
	}
}
