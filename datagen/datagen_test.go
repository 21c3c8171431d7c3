package datagen

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
)

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyErr  error
)

// tinyModel writes testmodel.Tiny("llama") once per test binary.
func tinyModel(t testing.TB) string {
	t.Helper()
	tinyOnce.Do(func() {
		d, err := os.MkdirTemp("", "datagen-model-")
		if err != nil {
			tinyErr = err
			return
		}
		tinyDir, tinyErr = testmodel.WriteTiny(d, "llama")
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyDir
}

func TestMain(m *testing.M) {
	if os.Getenv(killChildEnv) != "" {
		os.Exit(killChild())
	}
	code := m.Run()
	if tinyDir != "" {
		os.RemoveAll(filepath.Dir(tinyDir))
	}
	os.Exit(code)
}

// testRows returns n rows of 1..maxLen tokens below vocab, from seed.
func testRows(n, maxLen, vocab int, seed uint64) []dataset.Row {
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := make([]dataset.Row, n)
	for i := range rows {
		l := 1 + rng.IntN(maxLen)
		ids := make([]int64, l)
		mask := make([]int64, l)
		for j := range ids {
			ids[j] = int64(rng.IntN(vocab))
			mask[j] = int64(j % 2)
		}
		rows[i] = dataset.Row{InputIDs: ids, LossMask: mask}
	}
	return rows
}

// readDir returns the hs_* files of dir and their bytes.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover temporary file %s", e.Name())
			continue
		}
		if _, ok := ParseFileName(e.Name()); ok {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
	}
	return out
}

func sameFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s differs (%d vs %d bytes)", name, len(g), len(w))
		}
	}
}

func bf16Bytes(x []float32) []byte {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[2*i:], safetensors.Float32ToBF16(v))
	}
	return b
}

// TestEmbeddedMatchesRuntime checks every file against the runtime's own
// capture of the same batch, rounded to BF16: bit-identical.
func TestEmbeddedMatchesRuntime(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(23, 40, 320, 1)
	for _, tc := range []struct {
		name           string
		tokens, nrows  int
		layers, expect []int
	}{
		{"batched", 96, 8, nil, []int{2, 2, 1, 4}},
		{"single", 1 << 20, 1, []int{0, 3}, []int{0, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			sum, err := Run(context.Background(), Options{Rows: rows, Output: out, Model: model, Layers: tc.layers,
				BatchTokens: tc.tokens, BatchRows: tc.nrows, Validate: true})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Written != len(rows) || len(sum.Failed) != 0 {
				t.Fatalf("summary %+v", sum)
			}
			m, err := llama.Load(model)
			if err != nil {
				t.Fatal(err)
			}
			lens := make([]int, len(rows))
			for i, r := range rows {
				lens[i] = len(r.InputIDs)
			}
			H := m.H()
			for _, bt := range Batches(lens, tc.tokens, tc.nrows) {
				toks := make([][]int32, bt[1]-bt[0])
				for k := range toks {
					for _, v := range rows[bt[0]+k].InputIDs {
						toks[k] = append(toks[k], int32(v))
					}
				}
				o, err := m.NewState(len(toks)).Forward(toks, llama.ForwardOptions{Capture: tc.expect})
				if err != nil {
					t.Fatal(err)
				}
				for k := range toks {
					i := bt[0] + k
					h, err := ReadFile(filepath.Join(out, FileName(i)))
					if err != nil {
						t.Fatal(err)
					}
					want := bf16Bytes(o.Hidden[o.Offsets[k]*len(tc.expect)*H : o.Offsets[k+1]*len(tc.expect)*H])
					if h.DType != safetensors.BF16 || h.Slots != len(tc.expect) || h.HiddenSize != H || h.Seq != len(toks[k]) {
						t.Fatalf("row %d: %s [%d %d %d]", i, h.DType, h.Seq, h.Slots, h.HiddenSize)
					}
					if !bytes.Equal(h.Hidden, want) {
						t.Fatalf("row %d: hidden states differ from the runtime's capture", i)
					}
					if err := h.Check(rows[i].InputIDs, true); err != nil {
						t.Fatalf("row %d: %v", i, err)
					}
				}
			}
			man, err := ReadManifest(filepath.Join(out, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !man.Complete || len(man.Files) != len(rows) || man.DType != "bfloat16" || man.HiddenSize != H ||
				len(man.LayerIDs) != len(tc.expect) || man.Backend != "embedded" {
				t.Fatalf("manifest %+v", man)
			}
			for _, f := range man.Files {
				s, n, err := hashFile(filepath.Join(out, f.File))
				if err != nil || s != f.SHA256 || n != f.Bytes {
					t.Fatalf("manifest entry %+v: file sha %s size %d err %v", f, s, n, err)
				}
			}
			if bpt := sum.BytesPerToken(); bpt < float64(2*len(tc.expect)*H) || bpt > float64(2*len(tc.expect)*H+8+64) {
				t.Errorf("bytes per token %.1f, payload is %d", bpt, 2*len(tc.expect)*H+8)
			}
		})
	}
}

// TestEmbeddedGolden compares the files with model/llama's PyTorch golden
// hidden states (testdata/gen_golden.py there) within BF16 rounding.
func TestEmbeddedGolden(t *testing.T) {
	gf, err := safetensors.Open(filepath.Join("..", "model", "llama", "testdata", "golden", "llama.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	model := tinyModel(t) // the golden "llama" case is testmodel.Tiny("llama")
	ids, _ := gf.Int64("input_ids")
	layers, _ := gf.Int64("layer_ids")
	want, _ := gf.Float32("hidden_states")
	gi, _ := gf.Info("hidden_states")
	L, H := int(gi.Shape[1]), int(gi.Shape[2])
	if L != 5 || layers[4] != 4 {
		t.Fatalf("golden layer ids %v", layers)
	}
	aux := []int{1, 2, 3}
	out := t.TempDir()
	rows := []dataset.Row{{InputIDs: ids, LossMask: make([]int64, len(ids))}, {InputIDs: ids[:7], LossMask: make([]int64, 7)}}
	if _, err := Run(context.Background(), Options{Rows: rows, Output: out, Model: model, Layers: aux, BatchRows: 2}); err != nil {
		t.Fatal(err)
	}
	for r, row := range rows {
		h, err := ReadFile(filepath.Join(out, FileName(r)))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := h.Float32()
		worst := 0.0
		for s := range row.InputIDs {
			for a, id := range append(aux, 4) {
				for k := 0; k < H; k++ {
					g := float64(got[(s*4+a)*H+k])
					w := float64(want[(s*L+id)*H+k])
					d := math.Abs(g - w)
					if d > math.Abs(w)/128+1e-4 {
						t.Fatalf("row %d token %d layer %d [%d]: %g, PyTorch %g", r, s, id, k, g, w)
					}
					worst = max(worst, d/(math.Abs(w)+1e-6))
				}
			}
		}
		t.Logf("row %d: worst relative difference to PyTorch %.2g (BF16 keeps 8 significant bits)", r, worst)
	}
}

// TestResume: complete files are kept, deleted, truncated, corrupted and
// foreign files are redone, leftovers of interrupted writes removed, and the
// result equals an uninterrupted run.
func TestResume(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(12, 30, 320, 2)
	ref := t.TempDir()
	o := Options{Rows: rows, Output: ref, Model: model, BatchTokens: 64}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := readDir(t, ref)
	wantMan, _ := os.ReadFile(filepath.Join(ref, "manifest.json"))

	out := t.TempDir()
	o.Output = out
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(out, FileName(3)))
	b, _ := os.ReadFile(filepath.Join(out, FileName(5)))
	os.WriteFile(filepath.Join(out, FileName(5)), b[:len(b)/2], 0o644) // truncated
	b, _ = os.ReadFile(filepath.Join(out, FileName(7)))
	b[len(b)-3] ^= 0x40 // a flipped bit in the data: only the checksum sees it
	os.WriteFile(filepath.Join(out, FileName(7)), b, 0o644)
	other, _ := os.ReadFile(filepath.Join(out, FileName(8)))
	os.WriteFile(filepath.Join(out, FileName(9)), other, 0o644) // another row's file
	os.WriteFile(filepath.Join(out, "."+FileName(10)+".tmp-123"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(out, "hs_x.safetensors"), []byte("ignored"), 0o644)
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Kept != 8 || sum.Written != 4 || sum.Redone != 3 {
		t.Fatalf("kept %d written %d redone %d, want 8 4 3", sum.Kept, sum.Written, sum.Redone)
	}
	os.Remove(filepath.Join(out, "hs_x.safetensors"))
	sameFiles(t, readDir(t, out), want)
	gotMan, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if !bytes.Equal(gotMan, wantMan) {
		t.Errorf("manifest differs:\n%s\nwant\n%s", gotMan, wantMan)
	}
	// A second re-run does nothing.
	sum, err = Run(context.Background(), o)
	if err != nil || sum.Kept != 12 || sum.Written != 0 {
		t.Fatalf("third run: %+v %v", sum, err)
	}
}

// TestShards: ranks take rows i mod W; together they write exactly the
// files of a single run, each rank with its own manifest.
func TestShards(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(10, 20, 320, 3)
	ref := t.TempDir()
	// One row per pass, so the packing is the same whatever the rank.
	if _, err := Run(context.Background(), Options{Rows: rows, Output: ref, Model: model, BatchRows: 1, MaxSamples: 9}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for r := 0; r < 3; r++ {
		sum, err := Run(context.Background(), Options{Rows: rows, Output: out, Model: model, BatchRows: 1, MaxSamples: 9, WorldSize: 3, Rank: r})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Rows != 3 || sum.Written != 3 {
			t.Fatalf("rank %d: %+v", r, sum)
		}
		man, err := ReadManifest(filepath.Join(out, ManifestName(3, r)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range man.Files {
			if f.Row%3 != r {
				t.Errorf("rank %d wrote row %d", r, f.Row)
			}
		}
	}
	sameFiles(t, readDir(t, out), readDir(t, ref))
	if _, err := os.Stat(filepath.Join(ref, FileName(9))); err == nil {
		t.Error("max samples 9 wrote row 9")
	}
}

func TestBatches(t *testing.T) {
	got := Batches([]int{3, 3, 3, 10, 1, 1, 1, 1}, 8, 3)
	want := [][2]int{{0, 2}, {2, 3}, {3, 4}, {4, 7}, {7, 8}}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}

func TestBadRowsFailAlone(t *testing.T) {
	model := tinyModel(t)
	rows := testRows(6, 10, 320, 4)
	rows[2].InputIDs = []int64{1, 2, 999}
	rows[4].InputIDs = nil
	sum, err := Run(context.Background(), Options{Rows: rows, Output: t.TempDir(), Model: model, MaxConsecutiveErrors: 5})
	if err != nil {
		t.Fatal(err)
	}
	var failed []int
	for _, f := range sum.Failed {
		failed = append(failed, f.Row)
	}
	sort.Ints(failed)
	if sum.Written != 4 || len(failed) != 2 || failed[0] != 2 || failed[1] != 4 {
		t.Fatalf("written %d failed %v", sum.Written, sum.Failed)
	}
}
