package validate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/safetensors"
)

// base is the tiny eagle3 checkpoint with three aux layers, which draws no
// finding at all.
func base() testckpt.Options {
	o := testckpt.Tiny()
	o.AuxIDs = []int{2, 16, 29}
	return o
}

func write(t *testing.T, o testckpt.Options) string {
	t.Helper()
	dir := t.TempDir()
	if err := testckpt.Write(dir, o); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, dir string) *Report {
	t.Helper()
	r, err := Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dump(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("\n  " + f.String())
	}
	return b.String()
}

func TestBaseIsClean(t *testing.T) {
	r := run(t, write(t, base()))
	if len(r.Findings) != 0 {
		t.Fatalf("findings on a clean checkpoint:%s", dump(r))
	}
	if !r.OK() {
		t.Fatal("OK() false")
	}
}

// TestTinyPublished: the scaled-down §3.1 checkpoint (4 aux layers) passes
// with exactly one warning, the vLLM aux-count limitation.
func TestTinyPublished(t *testing.T) {
	r := run(t, write(t, testckpt.Tiny()))
	if !r.OK() || len(r.Findings) != 1 || r.Findings[0].Severity != Warning ||
		r.Findings[0].Key != "eagle_aux_hidden_state_layer_ids" || !strings.Contains(r.Findings[0].Msg, "#54526") {
		t.Fatalf("want one aux-count warning, got:%s", dump(r))
	}
}

func TestEveryAlgorithm(t *testing.T) {
	for _, algo := range config.Algorithms {
		t.Run(algo, func(t *testing.T) {
			o := testckpt.ForAlgorithm(algo)
			r := run(t, write(t, o))
			if !r.OK() {
				t.Fatalf("errors:%s", dump(r))
			}
			for _, f := range r.Findings {
				mtpWarning := algo == "mtp" && f.Key == "speculators_model_type"
				auxWarning := algo == "eagle3" && f.Key == "eagle_aux_hidden_state_layer_ids" // Tiny has 4, like §3.1
				if !mtpWarning && !auxWarning {
					t.Errorf("unexpected finding: %s", f)
				}
			}
		})
	}
	// Variants: qwen3 eagle3 with biases, fc_norm, target_hidden_size, two
	// layers, no vocabulary reduction, f16, sharded.
	variants := map[string]func(o *testckpt.Options){
		"qwen3 bias":    func(o *testckpt.Options) { o.ModelType = "qwen3"; o.AttentionBias = true },
		"fc_norm":       func(o *testckpt.Options) { o.NormBeforeFC = false; o.FCNorm = true },
		"target hidden": func(o *testckpt.Options) { o.TargetHidden = 48 },
		"two layers":    func(o *testckpt.Options) { o.Layers = 2 },
		"full vocab":    func(o *testckpt.Options) { o.DraftVocab = o.Vocab },
		"f16":           func(o *testckpt.Options) { o.DType = safetensors.F16 },
		"f32":           func(o *testckpt.Options) { o.DType = safetensors.F32 },
		"sharded":       func(o *testckpt.Options) { o.MaxShardSize = 20000 },
		"dspark no markov": func(o *testckpt.Options) {
			*o = testckpt.ForAlgorithm("dspark")
			o.MarkovRank = 0
		},
		"dflash full vocab": func(o *testckpt.Options) {
			*o = testckpt.ForAlgorithm("dflash")
			o.DraftVocab = o.Vocab
		},
	}
	for name, f := range variants {
		t.Run(name, func(t *testing.T) {
			o := base()
			f(&o)
			dir := write(t, o)
			if name == "sharded" {
				if _, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); err != nil {
					t.Fatal("not sharded")
				}
			}
			if r := run(t, dir); len(r.Findings) != 0 {
				t.Fatalf("findings:%s", dump(r))
			}
		})
	}
}

// --- editing helpers ---

func editConfig(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := config.MarshalPython(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

type tensor struct {
	dtype safetensors.DType
	shape []int64
	data  []byte
}

// editTensors rewrites model.safetensors canonically after edit.
func editTensors(t *testing.T, dir string, edit func(ts map[string]*tensor)) {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor{}
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		b, _ := f.Bytes(n)
		ts[n] = &tensor{info.DType, info.Shape, bytes.Clone(b)}
	}
	f.Close()
	edit(ts)
	var list []safetensors.Tensor
	for n, x := range ts {
		list = append(list, safetensors.Tensor{Name: n, DType: x.dtype, Shape: x.shape, Data: x.data})
	}
	if err := safetensors.WriteFile(path, list, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func sub(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func proposal(m map[string]any) map[string]any {
	return sub(m, "speculators_config")["proposal_methods"].([]any)[0].(map[string]any)
}

func bf16s(n int, f func(i int) float32) []byte {
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint16(b[2*i:], safetensors.Float32ToBF16(f(i)))
	}
	return b
}

func int64s(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

func readInt64s(b []byte) []int64 {
	v := make([]int64, len(b)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

// writeRawSafetensors writes a file with the given header JSON (padded as
// given) and data, to build non-canonical files.
func writeRawSafetensors(t *testing.T, path, header string, data []byte) {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenRules breaks one rule of format-spec §6-7 at a time on the clean
// checkpoint; each must give an error finding that names the key or tensor.
func TestBrokenRules(t *testing.T) {
	tests := []struct {
		name string
		opts func(o *testckpt.Options)
		cfg  func(m map[string]any)
		ts   func(ts map[string]*tensor)
		dir  func(t *testing.T, dir string)
		key  string
		msg  string
	}{
		// §7.1 JSON bytes
		{name: "config not canonical (compact)", dir: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "config.json")
			data, _ := os.ReadFile(p)
			var buf bytes.Buffer
			json.Compact(&buf, data)
			os.WriteFile(p, buf.Bytes(), 0o644)
		}, key: "config.json", msg: "canonical"},
		{name: "float repr 1e-6", dir: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "config.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte(`"rms_norm_eps": 1e-06`), []byte(`"rms_norm_eps": 0.000001`), 1), 0o644)
		}, key: "config.json", msg: `want "    \"rms_norm_eps\": 1e-06,"`},
		{name: "config missing", dir: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) }, key: "config.json", msg: "missing"},
		{name: "config invalid JSON", dir: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644)
		}, key: "config.json", msg: "invalid JSON"},
		// §7.2
		{name: "top-level model_type", cfg: func(m map[string]any) { m["model_type"] = "llama" }, key: "model_type", msg: "must not be written"},
		{name: "missing speculators_model_type", cfg: func(m map[string]any) { delete(m, "speculators_model_type") }, key: "speculators_model_type", msg: "missing"},
		{name: "unknown algorithm", cfg: func(m map[string]any) { m["speculators_model_type"] = "medusa" }, key: "speculators_model_type", msg: "not one of"},
		{name: "algorithm mismatch", cfg: func(m map[string]any) { sub(m, "speculators_config")["algorithm"] = "peagle" }, key: "speculators_config.algorithm", msg: "does not match"},
		// §7.3
		{name: "speculative_tokens 0", cfg: func(m map[string]any) { proposal(m)["speculative_tokens"] = json.Number("0") }, key: "speculators_config.proposal_methods[0].speculative_tokens", msg: "at least 1"},
		{name: "speculative_tokens missing", cfg: func(m map[string]any) { delete(proposal(m), "speculative_tokens") }, key: "speculators_config.proposal_methods[0].speculative_tokens", msg: "missing"},
		{name: "two proposals", cfg: func(m map[string]any) {
			sc := sub(m, "speculators_config")
			sc["proposal_methods"] = append(sc["proposal_methods"].([]any), proposal(m))
		}, key: "speculators_config.proposal_methods", msg: "exactly one"},
		{name: "proposal type", cfg: func(m map[string]any) { proposal(m)["proposal_type"] = "sample" }, key: "speculators_config.proposal_methods[0].proposal_type", msg: "not a known"},
		{name: "default proposal", cfg: func(m map[string]any) { sub(m, "speculators_config")["default_proposal_method"] = "x" }, key: "speculators_config.default_proposal_method", msg: "x"},
		{name: "proposal unknown key", cfg: func(m map[string]any) { proposal(m)["temperature"] = json.Number("1.0") }, key: "speculators_config.proposal_methods[0].temperature", msg: "unknown key"},
		// §2.2 verifier
		{name: "verifier name missing", cfg: func(m map[string]any) { delete(sub(sub(m, "speculators_config"), "verifier"), "name_or_path") }, key: "speculators_config.verifier.name_or_path", msg: "missing"},
		// §3.1 / layer config
		{name: "norm_before_fc and fc_norm", cfg: func(m map[string]any) { m["fc_norm"] = true }, key: "fc_norm", msg: "both true"},
		{name: "layer hidden_size missing", cfg: func(m map[string]any) { delete(sub(m, "transformer_layer_config"), "hidden_size") }, key: "transformer_layer_config.hidden_size", msg: "missing"},
		{name: "kv heads do not divide", cfg: func(m map[string]any) { sub(m, "transformer_layer_config")["num_key_value_heads"] = json.Number("3") }, key: "transformer_layer_config.num_key_value_heads", msg: "does not divide"},
		{name: "layer_types length", cfg: func(m map[string]any) {
			sub(m, "transformer_layer_config")["layer_types"] = []any{"full_attention", "full_attention"}
		}, key: "transformer_layer_config.layer_types", msg: "2 entries"},
		// §7.5 vocabulary mapping
		{name: "d2t missing", ts: func(ts map[string]*tensor) { delete(ts, "d2t") }, key: "d2t", msg: "missing tensor"},
		{name: "t2d missing", ts: func(ts map[string]*tensor) { delete(ts, "t2d") }, key: "t2d", msg: "missing tensor"},
		{name: "d2t wrong length", ts: func(ts map[string]*tensor) {
			ts["d2t"].shape = []int64{95}
			ts["d2t"].data = ts["d2t"].data[:95*8]
		}, key: "d2t", msg: "shape [95], want [96]"},
		{name: "d2t I32", ts: func(ts map[string]*tensor) {
			v := readInt64s(ts["d2t"].data)
			b := make([]byte, 4*len(v))
			for i, x := range v {
				binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
			}
			ts["d2t"].dtype, ts["d2t"].data = safetensors.I32, b
		}, key: "d2t", msg: "want I64"},
		{name: "t2d popcount", ts: func(ts map[string]*tensor) {
			for j, v := range ts["t2d"].data {
				if v == 0 {
					ts["t2d"].data[j] = 1
					break
				}
			}
		}, key: "t2d", msg: "97 true entries"},
		{name: "d2t not increasing", ts: func(ts map[string]*tensor) {
			v := readInt64s(ts["d2t"].data)
			v[5], v[6] = v[6]+1, v[5]-1 // swap the targets of draft ids 5 and 6
			ts["d2t"].data = int64s(v)
		}, key: "d2t", msg: "strictly increasing"},
		{name: "d2t target not in t2d", ts: func(ts map[string]*tensor) {
			v := readInt64s(ts["d2t"].data)
			// move the last target one id up, to an id t2d does not mark
			last := int64(len(v)-1) + v[len(v)-1]
			for ts["t2d"].data[last+1] == 1 {
				last++
			}
			v[len(v)-1] = last + 1 - int64(len(v)-1)
			ts["d2t"].data = int64s(v)
		}, key: "d2t", msg: "not marked in t2d"},
		{name: "d2t out of range", ts: func(ts map[string]*tensor) {
			v := readInt64s(ts["d2t"].data)
			v[len(v)-1] = 10000
			ts["d2t"].data = int64s(v)
		}, key: "d2t", msg: "outside"},
		{name: "mapping without reduction", cfg: func(m map[string]any) { m["draft_vocab_size"] = json.Number("512") }, ts: func(ts map[string]*tensor) {
			ts["lm_head.weight"] = &tensor{safetensors.BF16, []int64{512, 32}, bf16s(512*32, func(i int) float32 { return float32(math.Sin(float64(i))) * 0.05 })}
		}, key: "d2t", msg: "present although"},
		// §7.7 shapes
		{name: "fc width", ts: func(ts map[string]*tensor) {
			ts["fc.weight"] = &tensor{safetensors.BF16, []int64{32, 128}, bf16s(32*128, func(i int) float32 { return float32(math.Sin(float64(i))) * 0.05 })}
		}, key: "fc.weight", msg: "shape [32 128], want [32 96]"},
		{name: "q_proj in-features H", ts: func(ts map[string]*tensor) {
			ts["layers.0.self_attn.q_proj.weight"] = &tensor{safetensors.BF16, []int64{64, 32}, bf16s(64*32, func(i int) float32 { return float32(math.Sin(float64(i))) * 0.05 })}
		}, key: "layers.0.self_attn.q_proj.weight", msg: "want [64 64]"},
		{name: "lm_head full vocab", ts: func(ts map[string]*tensor) {
			ts["lm_head.weight"] = &tensor{safetensors.BF16, []int64{512, 32}, bf16s(512*32, func(i int) float32 { return float32(math.Sin(float64(i))) * 0.05 })}
		}, key: "lm_head.weight", msg: "want [96 32]"},
		{name: "input_norm missing", ts: func(ts map[string]*tensor) { delete(ts, "input_norm.weight") }, key: "input_norm.weight", msg: "norm_before_fc"},
		{name: "input_norm without norm_before_fc", cfg: func(m map[string]any) { m["norm_before_fc"] = false }, key: "input_norm.weight", msg: "unexpected tensor"},
		{name: "fc_norm tensors without fc_norm", ts: func(ts map[string]*tensor) {
			ts["fc_norm.0.weight"] = &tensor{safetensors.BF16, []int64{32}, bf16s(32, func(int) float32 { return 1 })}
		}, key: "fc_norm.0.weight", msg: "unexpected tensor"},
		{name: "second layer missing", cfg: func(m map[string]any) {
			l := sub(m, "transformer_layer_config")
			l["num_hidden_layers"] = json.Number("2")
			l["layer_types"] = []any{"sliding_attention", "sliding_attention"}
		}, key: "layers.1.self_attn.q_proj.weight", msg: "missing tensor"},
		{name: "hidden_norm missing", ts: func(ts map[string]*tensor) { delete(ts, "layers.0.hidden_norm.weight") }, key: "layers.0.hidden_norm.weight", msg: "missing tensor"},
		// §7.8 forbidden names
		{name: "verifier_lm_head", ts: func(ts map[string]*tensor) {
			ts["verifier_lm_head.weight"] = &tensor{safetensors.BF16, []int64{512, 32}, bf16s(512*32, func(i int) float32 { return 0.01 })}
		}, key: "verifier_lm_head.weight", msg: "forbidden"},
		{name: "verifier_norm", ts: func(ts map[string]*tensor) {
			ts["verifier_norm.weight"] = &tensor{safetensors.BF16, []int64{32}, bf16s(32, func(i int) float32 { return 1 })}
		}, key: "verifier_norm.weight", msg: "forbidden"},
		{name: "inv_freq", ts: func(ts map[string]*tensor) {
			ts["layers.0.self_attn.rotary_emb.inv_freq"] = &tensor{safetensors.F32, []int64{8}, make([]byte, 32)}
		}, key: "layers.0.self_attn.rotary_emb.inv_freq", msg: "forbidden"},
		{name: "model. prefix", ts: func(ts map[string]*tensor) {
			ts["model.norm.weight"] = ts["norm.weight"]
			delete(ts, "norm.weight")
		}, key: "model.norm.weight", msg: "forbidden"},
		{name: "research midlayer names", ts: func(ts map[string]*tensor) {
			ts["midlayer.self_attn.q_proj.weight"] = ts["layers.0.self_attn.q_proj.weight"]
			delete(ts, "layers.0.self_attn.q_proj.weight")
		}, key: "midlayer.self_attn.q_proj.weight", msg: "speculators convert"},
		// §7.9 safetensors header
		{name: "no metadata", dir: func(t *testing.T, dir string) {
			rewriteRaw(t, dir, func(meta string, order []string) (string, []string) { return "", order })
		}, key: "model.safetensors", msg: "format"},
		{name: "tensor order", dir: func(t *testing.T, dir string) {
			rewriteRaw(t, dir, func(meta string, order []string) (string, []string) {
				o := append([]string{}, order[1:]...)
				return meta, append(o, order[0]) // d2t last instead of first
			})
		}, key: "model.safetensors", msg: "order"},
		{name: "header not padded", dir: func(t *testing.T, dir string) {
			rewriteRaw(t, dir, func(meta string, order []string) (string, []string) { return meta + " ", order })
		}, key: "model.safetensors", msg: "multiple of 8"},
		{name: "header spacing", dir: func(t *testing.T, dir string) {
			rewriteRaw(t, dir, func(meta string, order []string) (string, []string) {
				return `"__metadata__": {"format": "pt"}`, order
			})
		}, key: "model.safetensors", msg: "header bytes differ"},
		{name: "weights missing", dir: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, key: "model.safetensors", msg: "missing"},
		{name: "weights corrupt", dir: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        "), 0o644)
		}, key: "model.safetensors", msg: "safetensors"},
		// §7.16 vLLM eagle3
		{name: "layer model_type", cfg: func(m map[string]any) { sub(m, "transformer_layer_config")["model_type"] = "mistral" }, key: "transformer_layer_config.model_type", msg: "only llama and qwen3"},
		{name: "norm_before_residual missing", cfg: func(m map[string]any) { delete(m, "norm_before_residual") }, key: "norm_before_residual", msg: "vLLM as true"},
		// §7.19
		{name: "auto_map", cfg: func(m map[string]any) { m["auto_map"] = map[string]any{"": "config.DFlashSpeculatorConfig"} }, key: "auto_map", msg: "Eagle3SpeculatorConfig"},
		{name: "architectures", cfg: func(m map[string]any) { m["architectures"] = []any{"LlamaForCausalLM"} }, key: "architectures", msg: "want one of"},
		{name: "tie_word_embeddings", cfg: func(m map[string]any) { m["tie_word_embeddings"] = true }, key: "tie_word_embeddings", msg: "true"},
		// §7.20 dtype
		{name: "dtype mismatch", cfg: func(m map[string]any) { m["dtype"] = "float16" }, key: "dtype", msg: "is BF16"},
		// values
		{name: "NaN", ts: func(ts map[string]*tensor) {
			binary.LittleEndian.PutUint16(ts["fc.weight"].data[2*77:], 0x7fc0)
		}, key: "fc.weight", msg: "1 of 3072 elements are NaN or Inf (first at flat index 77)"},
		{name: "Inf f32", opts: func(o *testckpt.Options) { o.DType = safetensors.F32 }, cfg: func(m map[string]any) {}, ts: func(ts map[string]*tensor) {
			binary.LittleEndian.PutUint32(ts["norm.weight"].data[4*3:], math.Float32bits(float32(math.Inf(-1))))
		}, key: "norm.weight", msg: "NaN or Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			if tc.opts != nil {
				tc.opts(&o)
			}
			dir := write(t, o)
			if tc.cfg != nil {
				editConfig(t, dir, tc.cfg)
			}
			if tc.ts != nil {
				editTensors(t, dir, tc.ts)
			}
			if tc.dir != nil {
				tc.dir(t, dir)
			}
			r := run(t, dir)
			if r.OK() {
				t.Fatalf("OK() = true, want an error; findings:%s", dump(r))
			}
			for _, f := range r.Findings {
				if f.Severity == Error && f.Key == tc.key && strings.Contains(f.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no error with key %q and message containing %q; findings:%s", tc.key, tc.msg, dump(r))
		})
	}
}

// rewriteRaw rewrites model.safetensors with a hand-built header: edit gets
// the metadata entry text and the tensor order and returns new ones.
func rewriteRaw(t *testing.T, dir string, edit func(meta string, order []string) (string, []string)) {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, ti := range f.Tensors() {
		order = append(order, ti.Name)
	}
	meta, order := edit(`"__metadata__":{"format":"pt"}`, order)
	var hdr strings.Builder
	var data []byte
	hdr.WriteString("{" + meta)
	for i, n := range order {
		info, _ := f.Info(n)
		b, _ := f.Bytes(n)
		if i > 0 || meta != "" {
			hdr.WriteString(",")
		}
		shape, _ := json.Marshal(info.Shape)
		hdr.WriteString(`"` + n + `":{"dtype":"` + string(info.DType) + `","shape":` + string(shape) +
			`,"data_offsets":[` + itoa(len(data)) + `,` + itoa(len(data)+len(b)) + `]}`)
		data = append(data, b...)
	}
	hdr.WriteString("}")
	h := hdr.String()
	if !strings.HasSuffix(meta, " ") {
		for len(h)%8 != 0 {
			h += " "
		}
	}
	f.Close()
	writeRawSafetensors(t, path, h, data)
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestOtherAlgorithmRules(t *testing.T) {
	tests := []struct {
		algo string
		cfg  func(m map[string]any)
		ts   func(ts map[string]*tensor)
		key  string
		msg  string
	}{
		{"peagle", func(m map[string]any) { m["mask_token_id"] = nil }, nil, "mask_token_id", "vLLM requires"},
		{"peagle", nil, func(ts map[string]*tensor) {
			ts["mask_hidden"].shape = []int64{1, 96}
		}, "mask_hidden", "want [1 1 96]"},
		{"peagle", nil, func(ts map[string]*tensor) { delete(ts, "mask_hidden") }, "mask_hidden", "missing tensor"},
		{"dflash", func(m map[string]any) { m["aux_hidden_state_layer_ids"] = nil }, nil, "aux_hidden_state_layer_ids", "vLLM requires"},
		{"dflash", func(m map[string]any) { m["mask_token_id"] = nil }, nil, "mask_token_id", "vLLM requires"},
		{"dflash", func(m map[string]any) { proposal(m)["speculative_tokens"] = json.Number("8") }, nil, "speculators_config.proposal_methods[0].speculative_tokens", "want 7"},
		{"dspark", func(m map[string]any) { proposal(m)["speculative_tokens"] = json.Number("7") }, nil, "speculators_config.proposal_methods[0].speculative_tokens", "want 8"},
		{"dflash", func(m map[string]any) { sub(m, "transformer_layer_config")["model_type"] = "llama" }, nil, "transformer_layer_config.model_type", "Qwen3"},
		{"dflash", nil, func(ts map[string]*tensor) { delete(ts, "lm_head.weight") }, "lm_head.weight", "draft_vocab_size != vocab_size"},
		{"dflash", nil, func(ts map[string]*tensor) { ts["mask_hidden"] = ts["norm.weight"] }, "mask_hidden", "unexpected"},
		{"dspark", nil, func(ts map[string]*tensor) { delete(ts, "markov_head.markov_w2.weight") }, "markov_head.markov_w2.weight", "missing"},
		{"dspark", nil, func(ts map[string]*tensor) {
			ts["confidence_head.proj.weight"].shape = []int64{1, 32}
			ts["confidence_head.proj.weight"].data = ts["confidence_head.proj.weight"].data[:64]
		}, "confidence_head.proj.weight", "want [1 40]"},
		{"mtp", func(m map[string]any) { m["num_nextn_predict_layers"] = json.Number("2") }, nil, "num_nextn_predict_layers", "only 1"},
		{"mtp", nil, func(ts map[string]*tensor) {
			ts["mtp_layers.0.mlp.experts.0.gate_proj.weight"] = ts["mtp_layers.0.mlp.gate_proj.weight"]
		}, "mtp_layers.0.mlp.experts.0.gate_proj.weight", "fused"},
		{"mtp", nil, func(ts map[string]*tensor) { ts["verifier_lm_head.weight"] = ts["mtp_layers.0.input_proj.weight"] }, "verifier_lm_head.weight", "forbidden"},
		{"mtp", nil, func(ts map[string]*tensor) { ts["mtp.fc.weight"] = ts["mtp_layers.0.input_proj.weight"] }, "mtp.fc.weight", "unexpected"},
		{"mtp", nil, func(ts map[string]*tensor) { delete(ts, "mtp_layers.0.token_layernorm.weight") }, "mtp_layers.0.token_layernorm.weight", "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.algo+" "+tc.key+" "+tc.msg, func(t *testing.T) {
			dir := write(t, testckpt.ForAlgorithm(tc.algo))
			if tc.cfg != nil {
				editConfig(t, dir, tc.cfg)
			}
			if tc.ts != nil {
				editTensors(t, dir, tc.ts)
			}
			r := run(t, dir)
			for _, f := range r.Findings {
				if f.Severity == Error && f.Key == tc.key && strings.Contains(f.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no error with key %q and %q; findings:%s", tc.key, tc.msg, dump(r))
		})
	}
}

// TestWarnings: legal but suspicious things give a warning naming the key,
// and validate still passes.
func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		opts func(o *testckpt.Options)
		cfg  func(m map[string]any)
		dir  func(t *testing.T, dir string)
		key  string
		msg  string
	}{
		{name: "4 aux layers", opts: func(o *testckpt.Options) { *o = testckpt.Tiny() }, key: "eagle_aux_hidden_state_layer_ids", msg: "#54526"},
		{name: "aux ids null", opts: func(o *testckpt.Options) { o.AuxIDs = nil }, key: "eagle_aux_hidden_state_layer_ids", msg: "null"},
		{name: "peagle 4 aux layers", opts: func(o *testckpt.Options) {
			*o = testckpt.ForAlgorithm("peagle")
			o.AuxIDs = []int{1, 2, 3, 4}
		}, key: "eagle_aux_hidden_state_layer_ids", msg: "#54526"},
		{name: "verifier null", cfg: func(m map[string]any) { sub(sub(m, "speculators_config"), "verifier")["name_or_path"] = nil }, key: "speculators_config.verifier.name_or_path", msg: "vllm serve"},
		{name: "kv heads missing", cfg: func(m map[string]any) { delete(sub(m, "transformer_layer_config"), "num_key_value_heads") }, key: "transformer_layer_config.num_key_value_heads", msg: "class default"},
		{name: "verifier_accept_k", cfg: func(m map[string]any) { proposal(m)["verifier_accept_k"] = json.Number("2") }, key: "speculators_config.proposal_methods[0].verifier_accept_k", msg: "vLLM ignores"},
		{name: "auto_map missing", cfg: func(m map[string]any) { delete(m, "auto_map") }, key: "auto_map", msg: "missing"},
		{name: "index total_size", opts: func(o *testckpt.Options) { o.MaxShardSize = 20000 }, dir: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors.index.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte(`"total_size": `), []byte(`"total_size": 1`), 1), 0o644)
		}, key: "model.safetensors.index.json", msg: "total_size"},
		{name: "index not canonical", opts: func(o *testckpt.Options) { o.MaxShardSize = 20000 }, dir: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors.index.json")
			data, _ := os.ReadFile(p)
			var buf bytes.Buffer
			json.Compact(&buf, data)
			os.WriteFile(p, buf.Bytes(), 0o644)
		}, key: "model.safetensors.index.json", msg: "form transformers writes"},
		{name: "mixed dtypes", dir: func(t *testing.T, dir string) {
			editTensors(t, dir, func(ts map[string]*tensor) {
				ts["norm.weight"] = &tensor{safetensors.F32, []int64{32}, make([]byte, 128)}
				binary.LittleEndian.PutUint32(ts["norm.weight"].data, math.Float32bits(1.5))
			})
		}, key: "norm.weight", msg: "mixed dtypes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			if tc.opts != nil {
				tc.opts(&o)
			}
			dir := write(t, o)
			if tc.cfg != nil {
				editConfig(t, dir, tc.cfg)
			}
			if tc.dir != nil {
				tc.dir(t, dir)
			}
			r := run(t, dir)
			found := false
			for _, f := range r.Findings {
				found = found || (f.Severity == Warning && f.Key == tc.key && strings.Contains(f.Msg, tc.msg))
			}
			if !found {
				t.Errorf("no warning with key %q and %q; findings:%s", tc.key, tc.msg, dump(r))
			}
			// A missing kv-head count changes the k/v shapes and a float32
			// tensor breaks the dtype rule: both also give errors.
			if tc.name != "mixed dtypes" && tc.name != "kv heads missing" && !r.OK() {
				t.Errorf("errors:%s", dump(r))
			}
		})
	}
}

// TestUntrainedWarnings: fresh-init weights, all-zero tensors and nn.Linear
// default init draw warnings (not errors); all-ones norms draw none.
func TestUntrainedWarnings(t *testing.T) {
	o := base()
	o.Init = testckpt.Fresh
	r := run(t, write(t, o))
	if !r.OK() {
		t.Fatalf("errors:%s", dump(r))
	}
	warned := map[string]bool{}
	for _, f := range r.Findings {
		if f.Severity == Warning && strings.Contains(f.Msg, "normal(0, 0.02)") {
			warned[f.Key] = true
		}
		if strings.Contains(f.Key, "norm") {
			t.Errorf("norm flagged: %s", f)
		}
	}
	for _, n := range []string{"fc.weight", "lm_head.weight", "embed_tokens.weight", "layers.0.self_attn.q_proj.weight", "layers.0.mlp.down_proj.weight"} {
		if !warned[n] {
			t.Errorf("%s not flagged as fresh init; findings:%s", n, dump(r))
		}
	}

	dir := write(t, base())
	rng := uint64(1)
	uniform := func() float64 { // splitmix64 in [0,1)
		rng += 0x9e3779b97f4a7c15
		z := rng
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return float64((z^(z>>31))>>11) / (1 << 53)
	}
	editTensors(t, dir, func(ts map[string]*tensor) {
		ts["fc.weight"].data = make([]byte, len(ts["fc.weight"].data))
		bound := 1 / math.Sqrt(64)
		ts["layers.0.self_attn.q_proj.weight"].data = bf16s(64*64, func(int) float32 { return float32((2*uniform() - 1) * bound) })
	})
	r = run(t, dir)
	want := map[string]string{"fc.weight": "every element is zero", "layers.0.self_attn.q_proj.weight": "nn.Linear's default init"}
	for _, f := range r.Findings {
		if w, ok := want[f.Key]; ok && f.Severity == Warning && strings.Contains(f.Msg, w) {
			delete(want, f.Key)
		}
	}
	if len(want) > 0 || !r.OK() {
		t.Errorf("missing warnings %v; findings:%s", want, dump(r))
	}
}

func TestDirErrors(t *testing.T) {
	if _, err := Dir(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Dir(missing) returned no error")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("x"), 0o644)
	r := run(t, dir)
	found := false
	for _, f := range r.Findings {
		found = found || (f.Key == "model.safetensors" && strings.Contains(f.Msg, "pytorch_model.bin"))
	}
	if !found || r.OK() {
		t.Errorf("findings:%s", dump(r))
	}
}

func TestScanFinite(t *testing.T) {
	// Every position in a word and the scalar tail, for bf16 and f16.
	for _, d := range []safetensors.DType{safetensors.BF16, safetensors.F16} {
		for n := 1; n <= 11; n++ {
			for at := 0; at < n; at++ {
				b := make([]byte, 2*n)
				for i := 0; i < n; i++ {
					binary.LittleEndian.PutUint16(b[2*i:], 0x3c00) // finite in both
				}
				bits := uint16(0x7fc0)
				if d == safetensors.F16 {
					bits = 0xfc00 // -Inf
				}
				binary.LittleEndian.PutUint16(b[2*at:], bits)
				bad, first, nz := scanFinite(d, b)
				if bad != 1 || first != int64(at) || !nz {
					t.Errorf("%s n=%d at=%d: bad=%d first=%d nonzero=%v", d, n, at, bad, first, nz)
				}
			}
		}
		b := []byte{0, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0}
		if bad, _, nz := scanFinite(d, b); bad != 0 || nz {
			t.Errorf("%s zeros: bad=%d nonzero=%v", d, bad, nz)
		}
	}
}

func BenchmarkScanFiniteBF16(b *testing.B) {
	data := bf16s(1<<22, func(i int) float32 { return float32(i%1000) * 1e-3 })
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		scanFinite(safetensors.BF16, data)
	}
}

func ExampleDir() {
	dir, _ := os.MkdirTemp("", "validate-example")
	defer os.RemoveAll(dir)
	o := testckpt.Tiny() // four aux layers, like the §3.1 published config
	if err := testckpt.Write(dir, o); err != nil {
		panic(err)
	}
	r, err := Dir(dir)
	if err != nil {
		panic(err)
	}
	for _, f := range r.Findings {
		os.Stdout.WriteString(f.Severity.String() + " " + f.Key + "\n")
	}
	os.Stdout.WriteString(map[bool]string{true: "ok\n", false: "fail\n"}[r.OK()])
	// Output:
	// warning eagle_aux_hidden_state_layer_ids
	// ok
}

func BenchmarkDirTiny(b *testing.B) {
	dir := b.TempDir()
	if err := testckpt.Write(dir, testckpt.Tiny()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Dir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDFlashFiveAux: DFlash drafts commonly use five aux layers (z-lab);
// the eagle3 fc limitation of vLLM does not apply to them.
func TestDFlashFiveAux(t *testing.T) {
	o := testckpt.ForAlgorithm("dflash")
	o.AuxIDs = []int{2, 10, 18, 26, 34}
	if r := run(t, write(t, o)); len(r.Findings) != 0 {
		t.Errorf("findings:%s", dump(r))
	}
}
