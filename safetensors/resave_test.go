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
