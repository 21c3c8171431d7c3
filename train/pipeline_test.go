package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/internal/testmodel"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/vocab"
)

// fixture is a tiny verifier with prepared data, hidden states and a draft
// vocabulary: the whole pipeline up to training.
type fixture struct {
	verifier, data string
	rows           int
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
	fixDir  string
)

// words make conversations with a small, repetitive vocabulary so a tiny
// draft can learn the verifier's next-token choices in a few steps.
var words = strings.Fields("the cat sat on a mat and the dog ran to the sun it is warm there were two of them at the inn")

func conversations(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	sentence := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	for i := 0; i < n; i++ {
		msgs := []map[string]string{
			{"role": "user", "content": sentence(3 + rng.IntN(5))},
			{"role": "assistant", "content": sentence(8 + rng.IntN(16))},
		}
		line, _ := json.Marshal(map[string]any{"messages": msgs})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// getFixture runs prepare → hidden states → vocab once per test binary.
func getFixture(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fixDir, fixErr = os.MkdirTemp("", "train-fixture-")
		if fixErr != nil {
			return
		}
		fix, fixErr = buildFixture(fixDir)
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

func buildFixture(dir string) (fixture, error) {
	// 8 layers, so the default aux ids [2, 4, 5] are distinct.
	ver := filepath.Join(dir, "verifier")
	vo := testmodel.Tiny("llama")
	vo.Layers = 8
	if err := testmodel.Write(ver, vo); err != nil {
		return fixture{}, err
	}
	src := filepath.Join(dir, "conv.jsonl")
	if err := os.WriteFile(src, []byte(conversations(72, 1)), 0o644); err != nil {
		return fixture{}, err
	}
	data := filepath.Join(dir, "data")
	if _, err := dataset.Prepare(context.Background(), dataset.Options{Model: ver, Sources: []string{src}, Output: data, SeqLength: 512, Seed: 3, Workers: 2}); err != nil {
		return fixture{}, err
	}
	rows, err := ReadRows(data)
	if err != nil {
		return fixture{}, err
	}
	if err := writeHiddenStates(ver, rows, filepath.Join(data, "hidden_states")); err != nil {
		return fixture{}, err
	}
	freq, err := vocab.ReadTokenFreq(filepath.Join(data, "token_freq.pt"))
	if err != nil {
		return fixture{}, err
	}
	V, err := vocab.VerifierVocabSize(ver)
	if err != nil {
		return fixture{}, err
	}
	mp, err := vocab.Build(freq, 64, V)
	if err != nil {
		return fixture{}, err
	}
	if err := mp.Save(data); err != nil {
		return fixture{}, err
	}
	return fixture{verifier: ver, data: data, rows: len(rows)}, nil
}

// writeHiddenStates captures the default aux layers plus the last layer of
// the verifier for every row, in the hs_{i}.safetensors layout of
// training-spec §2.4 (bf16 hidden_states [S, A+1, H], int64 token_ids).
func writeHiddenStates(verifier string, rows []Row, dir string) error {
	m, err := llama.Load(verifier)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	capture := append(m.DefaultAuxLayers(), m.N())
	st := m.NewState(1)
	for _, r := range rows {
		st.Reset()
		ids := make([]int32, len(r.InputIDs))
		for i, v := range r.InputIDs {
			ids[i] = int32(v)
		}
		out, err := st.ForwardSeq(0, ids, llama.ForwardOptions{Capture: capture})
		if err != nil {
			return err
		}
		hs, err := safetensors.EncodeFloat32(safetensors.BF16, out.Hidden[:len(ids)*len(capture)*m.H()])
		if err != nil {
			return err
		}
		tok := make([]byte, 8*len(ids))
		for i, v := range r.InputIDs {
			for j := 0; j < 8; j++ {
				tok[8*i+j] = byte(uint64(v) >> (8 * j))
			}
		}
		ts := []safetensors.Tensor{
			{Name: "hidden_states", DType: safetensors.BF16, Shape: []int64{int64(len(ids)), int64(len(capture)), int64(m.H())}, Data: hs},
			{Name: "token_ids", DType: safetensors.I64, Shape: []int64{int64(len(ids))}, Data: tok},
		}
		if err := safetensors.WriteFile(HiddenStatePath(dir, r.Index), ts, nil); err != nil {
			return err
		}
	}
	return nil
}

// tinyOptions trains the fixture's draft briefly.
func tinyOptions(f fixture, save string) Options {
	o := Defaults()
	o.VerifierPath, o.DataPath, o.SavePath = f.verifier, f.data, save
	o.TotalSeqLen = 256
	o.Epochs = 4
	o.Optim.LR = 3e-3
	o.Draft.SlidingWindow = 64
	o.Command = []byte("# test\nspeculators train\n")
	return o
}

func logTo(t *testing.T) *testWriter { return &testWriter{t: t} }

type testWriter struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	return len(p), nil
}

func (w *testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func readMetrics(t *testing.T, path string) (train []map[string]any, val []map[string]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: %v: %q", path, err, line)
		}
		if e["train"] != nil {
			train = append(train, e)
		} else if e["val"] != nil {
			val = append(val, e)
		}
	}
	return train, val
}

func metric(e map[string]any, section, key string) float64 {
	m, _ := e[section].(map[string]any)
	v, ok := m[key].(float64)
	if !ok {
		panic(fmt.Sprintf("%s/%s missing in %v", section, key, e))
	}
	return v
}
