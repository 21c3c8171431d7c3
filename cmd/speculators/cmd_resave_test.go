package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/safetensors"
)

// Goldens written by safetensors/testdata/gen_safetensors.py (torch values,
// Python safetensors serialization and transformers sharding rules).
var goldenDir = filepath.Join("..", "..", "safetensors", "testdata", "golden")

const testConfig = `{
  "architectures": [
    "Eagle3DraftModel"
  ],
  "dtype": "bfloat16",
  "speculators_model_type": "eagle3",
  "transformer_layer_config": {
    "dtype": "bfloat16",
    "hidden_size": 16
  }
}
`

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeCheckpoint builds a checkpoint dir from golden weight files plus
// side files that resave must copy unchanged.
func makeCheckpoint(t *testing.T, weights map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for dst, src := range weights {
		copyFile(t, filepath.Join(goldenDir, src), filepath.Join(dir, dst))
	}
	side := map[string]string{
		"config.json":            testConfig,
		"generation_config.json": "{\n  \"max_length\": 2048\n}\n",
		"tokenizer.json":         `{"model":{"type":"BPE"},"added_tokens":[]}`,
		"token_freq.pt":          "\x80\x02binary",
	}
	for n, s := range side {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func assertSameDir(t *testing.T, got, want string) {
	t.Helper()
	g, w := dirFiles(t, got), dirFiles(t, want)
	if !slices.Equal(g, w) {
		t.Fatalf("files %v, want %v", g, w)
	}
	for _, n := range w {
		a, _ := os.ReadFile(filepath.Join(got, n))
		b, _ := os.ReadFile(filepath.Join(want, n))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the source", n)
		}
	}
}

func TestResaveByteIdentical(t *testing.T) {
	shards := map[string]string{safetensors.IndexFileName: "sharded/" + safetensors.IndexFileName}
	for i := 1; i <= 4; i++ {
		n := safetensors.ShardFileName(i-1, 4)
		shards[n] = "sharded/" + n
	}
	cases := map[string]map[string]string{
		"single":  {"model.safetensors": "mixed.safetensors"},
		"sharded": shards,
	}
	for name, weights := range cases {
		t.Run(name, func(t *testing.T) {
			src := makeCheckpoint(t, weights)
			out := filepath.Join(t.TempDir(), "out")
			if code := run([]string{"resave", src, "--output-path", out}); code != 0 {
				t.Fatalf("exit %d", code)
			}
			assertSameDir(t, out, src)
		})
	}
}

// Re-splitting the sharded golden into one file gives the single-file
// golden byte for byte (same tensors, same metadata).
func TestResaveReshard(t *testing.T) {
	shards := map[string]string{safetensors.IndexFileName: "sharded/" + safetensors.IndexFileName}
	for i := 1; i <= 4; i++ {
		n := safetensors.ShardFileName(i-1, 4)
		shards[n] = "sharded/" + n
	}
	src := makeCheckpoint(t, shards)
	out := t.TempDir()
	if code := run([]string{"resave", src, "-o", out, "--max-shard-size", "1GB"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	a, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(goldenDir, "mixed.safetensors"))
	if !bytes.Equal(a, b) {
		t.Fatal("resharded single file differs from the golden")
	}
	if _, err := os.Stat(filepath.Join(out, safetensors.IndexFileName)); err == nil {
		t.Fatal("index written for a single file")
	}
	// And split again into small shards: every shard within the limit
	// unless it holds one oversized tensor; all tensors readable.
	out2 := t.TempDir()
	if code := run([]string{"resave", out, "-o", out2, "--max-shard-size", "1KB"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	c, err := safetensors.OpenDir(out2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files()) < 4 {
		t.Fatalf("%d shards", len(c.Files()))
	}
	for _, f := range c.Files() {
		var sum int64
		ts := f.Tensors()
		for _, ti := range ts {
			sum += ti.NumBytes()
		}
		if sum > 1000 && len(ts) > 1 {
			t.Errorf("%s holds %d bytes in %d tensors", f.Path(), sum, len(ts))
		}
	}
	if len(c.Names()) != 17 {
		t.Fatalf("%d tensors", len(c.Names()))
	}
}

func TestResaveCast(t *testing.T) {
	src := makeCheckpoint(t, map[string]string{"model.safetensors": "mixed.safetensors"})
	out := t.TempDir()
	if code := run([]string{"resave", src, "--output-path", out, "--dtype", "float32"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	in, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	got, err := safetensors.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	for _, n := range in.Names() {
		ti, _ := in.Info(n)
		to, _ := got.Info(n)
		if !slices.Equal(ti.Shape, to.Shape) {
			t.Fatalf("%s: shape %v -> %v", n, ti.Shape, to.Shape)
		}
		if !ti.DType.IsFloat() {
			a, _ := in.Bytes(n)
			b, _ := got.Bytes(n)
			if to.DType != ti.DType || !bytes.Equal(a, b) {
				t.Fatalf("%s: %s tensor changed", n, ti.DType)
			}
			continue
		}
		if to.DType != safetensors.F32 {
			t.Fatalf("%s: dtype %s, want F32", n, to.DType)
		}
		a, _ := in.Float32(n)
		b, _ := got.Float32(n)
		if !slices.Equal(a, b) {
			t.Fatalf("%s: values changed by a widening cast", n)
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(out, "config.json"))
	want := strings.Replace(testConfig, `  "dtype": "bfloat16"`, `  "dtype": "float32"`, 1)
	if string(cfg) != want {
		t.Fatalf("config.json:\n%s\nwant:\n%s", cfg, want)
	}
	for _, n := range []string{"generation_config.json", "tokenizer.json", "token_freq.pt"} {
		a, _ := os.ReadFile(filepath.Join(src, n))
		b, _ := os.ReadFile(filepath.Join(out, n))
		if !bytes.Equal(a, b) {
			t.Errorf("%s changed", n)
		}
	}
	// Casting back to bfloat16 restores the original BF16 tensors exactly.
	back := t.TempDir()
	if code := run([]string{"resave", out, "--output-path", back, "--dtype", "bfloat16"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	bk, err := safetensors.OpenDir(back)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	for _, n := range in.Names() {
		if ti, _ := in.Info(n); ti.DType == safetensors.BF16 {
			a, _ := in.Bytes(n)
			b, _ := bk.Bytes(n)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: bf16 -> f32 -> bf16 changed bytes", n)
			}
		}
	}
}

func TestResaveErrors(t *testing.T) {
	src := makeCheckpoint(t, map[string]string{"model.safetensors": "mixed.safetensors"})
	out := t.TempDir()
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"resave", src}, 2},
		{[]string{"resave", src, "-o", out, "--dtype", "int8"}, 2},
		{[]string{"resave", src, "-o", out, "--dtype", "fp9"}, 2},
		{[]string{"resave", src, "-o", out, "--max-shard-size", "5XB"}, 2},
		{[]string{"resave", src, "-o", out, "--max-shard-size", "0"}, 2},
		{[]string{"resave", "-o", out}, 2},
		{[]string{"resave", filepath.Join(src, "nope"), "-o", out}, 1},
		{[]string{"resave", src, "-o", src}, 1},
	}
	for _, c := range cases {
		if got := run(c.args); got != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, got, c.code)
		}
	}
}
