package testckpt

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

// TestPublishedConfig: the full-size options give the §3.1 config.json byte
// for byte as Python writes it (config/testdata/eagle3_published.json, made
// by config/testdata/gen_pyjson.py).
func TestPublishedConfig(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "config", "testdata", "eagle3_published.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Config(Published())
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("config differs:\n%s\nwant\n%s", got, want)
	}
}

func TestVocabMap(t *testing.T) {
	d2t, t2d := VocabMap(100, 17, 3)
	if len(d2t) != 17 || len(t2d) != 100 {
		t.Fatalf("lengths %d %d", len(d2t), len(t2d))
	}
	n, prev := 0, -1
	for _, v := range t2d {
		if v {
			n++
		}
	}
	for i, off := range d2t {
		id := i + int(off)
		if id <= prev || !t2d[id] {
			t.Fatalf("draft id %d -> %d (prev %d)", i, id, prev)
		}
		prev = id
	}
	if n != 17 || d2t[0] != 0 {
		t.Errorf("popcount %d, d2t[0] %d", n, d2t[0])
	}
}

func TestWriteDeterministicAndShaped(t *testing.T) {
	for _, algo := range config.Algorithms {
		o := ForAlgorithm(algo)
		a, b := t.TempDir(), t.TempDir()
		if err := Write(a, o); err != nil {
			t.Fatal(err)
		}
		if err := Write(b, o); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"config.json", "model.safetensors"} {
			x, _ := os.ReadFile(filepath.Join(a, f))
			y, _ := os.ReadFile(filepath.Join(b, f))
			if len(x) == 0 || !bytes.Equal(x, y) {
				t.Errorf("%s %s: not deterministic", algo, f)
			}
		}
		f, err := safetensors.Open(filepath.Join(a, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := f.Info("mtp_layers.0.input_proj.weight")
		if algo == "mtp" && (!ok || w.Shape[0] != 32 || w.Shape[1] != 64) {
			t.Errorf("mtp input_proj %v", w)
		}
		if _, ok := f.Info("d2t"); ok != (algo != "mtp") {
			t.Errorf("%s: d2t present = %v", algo, ok)
		}
		f.Close()
	}
}

func TestFreshInit(t *testing.T) {
	o := Tiny()
	o.Init = Fresh
	o.DType = safetensors.F32
	dir := t.TempDir()
	if err := Write(dir, o); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	norm, _ := f.Float32("norm.weight")
	for _, v := range norm {
		if v != 1 {
			t.Fatalf("fresh norm weight %v, want 1", v)
		}
	}
	emb, _ := f.Float32("embed_tokens.weight")
	var ss float64
	for _, v := range emb {
		ss += float64(v) * float64(v)
	}
	if std := ss / float64(len(emb)); std < 0.019*0.019 || std > 0.021*0.021 {
		t.Errorf("fresh embedding variance %g, want 0.02^2", std)
	}
}

// TestFastBF16Lanes: the four-lane generator gives the same bits as one
// lane at a time (values stay in ±[2^-10, 2^-2)).
func TestFastBF16Lanes(t *testing.T) {
	ts, err := Tensors(Tiny())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, x := range ts {
		if x.Name == "fc.weight" {
			if err := x.Write(&buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := buf.Bytes()
	if len(b) != 2*32*128 {
		t.Fatalf("%d bytes", len(b))
	}
	for i := 0; i+1 < len(b); i += 2 {
		v := safetensors.BF16ToFloat32(uint16(b[i]) | uint16(b[i+1])<<8)
		if a := float32(math.Abs(float64(v))); a < 1.0/1024 || a >= 0.25 {
			t.Fatalf("element %d = %g", i/2, v)
		}
	}
}
