package datagen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/safetensors"
)

type expected struct {
	TokenIDs []int64       `json:"token_ids"`
	Hidden   [][][]float32 `json:"hidden_states"`
	Launch   []struct {
		Model       string   `json:"model"`
		NumLayers   int      `json:"num_layers"`
		Target      []int    `json:"target"`
		IncludeLast bool     `json:"include_last"`
		Path        string   `json:"path"`
		Extra       []string `json:"extra"`
		Argv        []string `json:"argv"`
	} `json:"launch"`
}

func loadExpected(t *testing.T) *expected {
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

// TestReadTorch reads PyTorch-written per-sample files (testdata/gen_torch.py)
// through the restricted unpickler, and round-trips them through the
// safetensors layout.
func TestReadTorch(t *testing.T) {
	e := loadExpected(t)
	for _, name := range []string{"old_format.pt", "new_keys.pt"} {
		t.Run(name, func(t *testing.T) {
			h, err := ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Check(e.TokenIDs, true); err != nil {
				t.Fatal(err)
			}
			S, A1, H := len(e.Hidden), len(e.Hidden[0]), len(e.Hidden[0][0])
			if h.Seq != S || h.Slots != A1 || h.HiddenSize != H {
				t.Fatalf("shape [%d %d %d], want [%d %d %d]", h.Seq, h.Slots, h.HiddenSize, S, A1, H)
			}
			got, err := h.Float32()
			if err != nil {
				t.Fatal(err)
			}
			for s := range e.Hidden {
				for a := range e.Hidden[s] {
					for k, w := range e.Hidden[s][a] {
						if g := got[(s*A1+a)*H+k]; g != w {
							t.Fatalf("[%d %d %d] = %g, want %g", s, a, k, g, w)
						}
					}
				}
			}
			aux, last, _ := h.Aux()
			if len(aux) != S*(A1-1)*H || len(last) != S*H || last[H] != e.Hidden[1][A1-1][0] || aux[(A1-1)*H+1] != e.Hidden[1][0][1] {
				t.Fatal("Aux split wrong")
			}
			p := filepath.Join(t.TempDir(), FileName(0))
			if err := h.Write(p); err != nil {
				t.Fatal(err)
			}
			back, err := ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(back.Hidden) != string(h.Hidden) || back.Check(e.TokenIDs, false) != nil {
				t.Fatal("safetensors round trip differs")
			}
		})
	}
}

func TestCheckNonFinite(t *testing.T) {
	h := &HiddenStates{TokenIDs: []int64{1, 2}, DType: safetensors.BF16, Seq: 2, Slots: 3, HiddenSize: 2, Hidden: bf16Bytes([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})}
	if err := h.Check([]int64{1, 2}, true); err != nil {
		t.Fatal(err)
	}
	if err := h.Check([]int64{1, 3}, false); err == nil {
		t.Fatal("token mismatch accepted")
	}
	h.Hidden[2*9+1] = 0x7f // +Inf high byte... value 0x7f80 region
	h.Hidden[2*9] = 0x80
	err := h.Check(nil, true)
	if err == nil || err.Error() != "non-finite hidden states (slot 1: 1 values)" {
		t.Fatalf("err %v", err)
	}
}

func TestParseFileName(t *testing.T) {
	for name, want := range map[string]int{"hs_0.safetensors": 0, "hs_123.safetensors": 123, "hs_x.safetensors": -1,
		"hs_01.safetensors": -1, "hs_-1.safetensors": -1, "hs_1.pt": -1, ".hs_1.safetensors.tmp-1": -1} {
		i, ok := ParseFileName(name)
		if (want < 0) == ok || (ok && i != want) {
			t.Errorf("%s: %d %v", name, i, ok)
		}
	}
}

// TestLaunchCommand compares with the command lines speculators'
// launch_vllm.py logic builds (json.dumps in testdata/gen_torch.py).
func TestLaunchCommand(t *testing.T) {
	e := loadExpected(t)
	for _, c := range e.Launch {
		argv, err := LaunchCommand(LaunchOptions{Model: c.Model, NumLayers: c.NumLayers, TargetLayerIDs: c.Target,
			IncludeLastLayer: c.IncludeLast, HiddenStatesPath: c.Path, VLLMArgs: c.Extra})
		if err != nil {
			t.Fatal(err)
		}
		if len(argv) != len(c.Argv) {
			t.Fatalf("%q\nwant %q", argv, c.Argv)
		}
		for i := range argv {
			if argv[i] != c.Argv[i] {
				t.Fatalf("arg %d: %s\nwant %s", i, argv[i], c.Argv[i])
			}
		}
	}
	// N from a model directory's config.json (text_config first).
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"num_hidden_layers": 99, "text_config": {"num_hidden_layers": 28}}`), 0o644)
	argv, err := LaunchCommand(LaunchOptions{Model: dir, HiddenStatesPath: "p"})
	if err != nil || argv[6] != `{"method": "extract_hidden_states", "num_speculative_tokens": 1, "draft_model_config": {"hf_config": {"eagle_aux_hidden_state_layer_ids": [2, 14, 25, 28]}}}` {
		t.Fatalf("%q %v", argv, err)
	}
	if _, err := LaunchCommand(LaunchOptions{Model: "org/name"}); err == nil {
		t.Fatal("a Hub id without --num-layers accepted")
	}
	if _, err := LaunchCommand(LaunchOptions{Model: "m", NumLayers: 10, TargetLayerIDs: []int{11}}); err == nil {
		t.Fatal("layer 11 of 10 accepted")
	}
}

// FuzzReadFile: hostile hidden-state files are errors, never panics.
func FuzzReadFile(f *testing.F) {
	h := &HiddenStates{TokenIDs: []int64{5, 6}, DType: safetensors.BF16, Seq: 2, Slots: 2, HiddenSize: 2, Hidden: bf16Bytes([]float32{1, 2, 3, 4, 5, 6, 7, 8})}
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.safetensors")
	if err := h.Write(p); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.safetensors")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := ReadFile(p)
		if err != nil {
			return
		}
		if len(h.Hidden) != h.Seq*h.Slots*h.HiddenSize*h.DType.Size() {
			t.Fatalf("payload %d bytes for [%d %d %d] %s", len(h.Hidden), h.Seq, h.Slots, h.HiddenSize, h.DType)
		}
		h.Check(nil, true)
		h.Float32()
	})
}
