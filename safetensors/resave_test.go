package safetensors

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResaveProgressAndSummary(t *testing.T) {
	src := t.TempDir()
	ts := randTensors(rand.New(rand.NewPCG(11, 12)))
	if err := WriteDir(src, ts, map[string]string{"format": "pt"}, 200); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "config.json"), []byte("{\n  \"dtype\": \"bfloat16\"\n}\n"), 0o644)
	os.Mkdir(filepath.Join(src, "subdir"), 0o755)
	var log bytes.Buffer
	dst := filepath.Join(t.TempDir(), "out")
	sum, err := Resave(src, dst, ResaveOptions{Log: &log, ProgressEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Tensors != len(ts) || len(sum.Copied) != 1 || sum.Cast != 0 {
		t.Fatalf("summary %+v", sum)
	}
	out := log.String()
	for _, want := range []string{"resave: ", "(100%)", "skipping subdir", "wrote 13 tensors", "copied 1 other files"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// Same bytes everywhere (layout kept).
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		a, _ := os.ReadFile(filepath.Join(src, e.Name()))
		b, _ := os.ReadFile(filepath.Join(dst, e.Name()))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs", e.Name())
		}
	}
	if _, err := Resave(src, dst, ResaveOptions{DType: I64}); err == nil {
		t.Error("cast to I64 accepted")
	}
}

// Shards with different metadata (Python's HashMap order differs per
// save_file call) keep their own bytes.
func TestResavePerShardMetadata(t *testing.T) {
	src := t.TempDir()
	u8 := func(n string) Tensor { return Tensor{Name: n, DType: U8, Shape: []int64{1}, Data: []byte{1}} }
	m := map[string]string{"format": "pt", "x": "y"}
	if err := WriteFileOptions(filepath.Join(src, ShardFileName(0, 2)), []Tensor{u8("a")}, FileOptions{Metadata: m, MetadataKeys: []string{"x", "format"}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileOptions(filepath.Join(src, ShardFileName(1, 2)), []Tensor{u8("b")}, FileOptions{Metadata: m, MetadataKeys: []string{"format", "x"}}); err != nil {
		t.Fatal(err)
	}
	idx := EncodeIndex(2, 0, map[string]string{"a": ShardFileName(0, 2), "b": ShardFileName(1, 2)})
	os.WriteFile(filepath.Join(src, IndexFileName), idx, 0o644)
	dst := t.TempDir()
	if _, err := Resave(src, dst, ResaveOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{ShardFileName(0, 2), ShardFileName(1, 2), IndexFileName} {
		a, _ := os.ReadFile(filepath.Join(src, n))
		b, _ := os.ReadFile(filepath.Join(dst, n))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs", n)
		}
	}
}
