package convert

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

type expectCase struct {
	Tensors map[string]struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
		Hex   string  `json:"hex"`
	} `json:"tensors"`
	Dropped []string `json:"dropped"`
}

func loadExpected(t *testing.T, name string) expectCase {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]expectCase
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	c, ok := m[name]
	if !ok {
		t.Fatalf("no expected case %s", name)
	}
	return c
}

// checkTensors compares every tensor of the checkpoint in dir with what
// torch computed (testdata/gen_sources.py): same names, dtypes, shapes and
// bytes, nothing extra.
func checkTensors(t *testing.T, dir string, want expectCase) {
	t.Helper()
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	got := ck.Names()
	var names []string
	for n := range want.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(got, names) {
		t.Errorf("tensors\n got %v\nwant %v", got, names)
	}
	for _, n := range names {
		w := want.Tensors[n]
		info, ok := ck.Info(n)
		if !ok {
			continue
		}
		if string(info.DType) != w.DType || !slices.Equal(info.Shape, w.Shape) {
			t.Errorf("%s: %s %v, want %s %v", n, info.DType, info.Shape, w.DType, w.Shape)
			continue
		}
		b, err := ck.Bytes(n)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(b) != w.Hex {
			t.Errorf("%s: bytes differ from torch's", n)
		}
	}
}

func droppedNames(r *Result) []string {
	var out []string
	for n := range r.Dropped {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func loadConfig(t *testing.T, dir string) (*config.Speculator, map[string]any) {
	t.Helper()
	c, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readJSON(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c, raw
}

func requireValid(t *testing.T, r *Result) {
	t.Helper()
	if r.Report == nil {
		t.Fatal("no validation report")
	}
	for _, f := range r.Report.Findings {
		t.Logf("validate: %s", f)
	}
	if !r.Report.OK() {
		t.Fatalf("validation found errors")
	}
}

// TestEagle3Bin converts a SafeAILab EAGLE-3 pytorch_model.bin (float16,
// reduced vocabulary, a non-contiguous lm_head) and checks format-spec §7
// vector 10.
func TestEagle3Bin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res, err := Convert(Options{Algorithm: "eagle3", Source: "testdata/eagle3_bin", Verifier: "testdata/verifier_llama", OutputPath: out})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	checkTensors(t, out, loadExpected(t, "eagle3_bin"))
	c, raw := loadConfig(t, out)
	l := c.TransformerLayerConfig
	if l.MaxPositionEmbeddings != 131072 {
		t.Errorf("max_position_embeddings %d, want max(2048, 131072)", l.MaxPositionEmbeddings)
	}
	if l.NumHiddenLayers != 1 || l.ModelType != "llama" || l.VocabSize != 40 {
		t.Errorf("layer config %+v", l)
	}
	if l.RopeTheta != "10000.0" {
		t.Errorf("rope_theta %s, want the draft's default 10000.0 (not the verifier's 500000.0)", l.RopeTheta)
	}
	if l.RMSNormEps != "1e-05" {
		t.Errorf("rms_norm_eps %s", l.RMSNormEps)
	}
	if c.SpeculativeTokens() != 3 {
		t.Errorf("speculative_tokens %d, want 3", c.SpeculativeTokens())
	}
	if v, ok := raw["eagle_aux_hidden_state_layer_ids"]; !ok || v != nil {
		t.Errorf("eagle_aux_hidden_state_layer_ids = %v, want null", v)
	}
	if !reflect.DeepEqual(c.Architectures, []string{"Eagle3Speculator"}) || c.DType != "float16" || c.DraftVocabSize() != 16 {
		t.Errorf("architectures %v dtype %s draft_vocab_size %d", c.Architectures, c.DType, c.DraftVocabSize())
	}
	if got := c.SpeculatorsConfig.Verifier; *got.NameOrPath != "testdata/verifier_llama" || !reflect.DeepEqual(got.Architectures, []string{"LlamaForCausalLM"}) {
		t.Errorf("verifier %v %v", *got.NameOrPath, got.Architectures)
	}
	// The file is what the Python writer produces for this config.
	b, _ := os.ReadFile(filepath.Join(out, "config.json"))
	again, err := c.Marshal()
	if err != nil || string(again) != string(b) {
		t.Errorf("config.json does not round-trip through the config package")
	}
	if _, ok := raw["model_type"]; ok {
		t.Error("top-level model_type written")
	}
}

// TestEagle3ShardedBin: two layers (midlayer.N), input_norm kept and
// norm_before_fc set, embed_tokens kept, sharded .bin source, cast to float32.
func TestEagle3ShardedBin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res, err := Convert(Options{Algorithm: "eagle3", Source: "testdata/eagle3_sharded_bin", Verifier: "testdata/verifier_llama", OutputPath: out, DType: "float32",
		Kwargs: map[string]any{"norm_before_residual": true, "eagle_aux_hidden_state_layer_ids": []any{json.Number("1"), json.Number("2"), json.Number("3")}}})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	checkTensors(t, out, loadExpected(t, "eagle3_sharded_bin"))
	c, _ := loadConfig(t, out)
	e := c.EagleFields()
	if !e.NormBeforeFC || !e.NormBeforeResidual || e.FCNorm || !reflect.DeepEqual(e.EagleAuxHiddenStateLayerIDs, []int{1, 2, 3}) {
		t.Errorf("flags %+v", e)
	}
	if c.TransformerLayerConfig.NumHiddenLayers != 2 || c.DType != "float32" || c.DraftVocabSize() != 40 {
		t.Errorf("layers %d dtype %s Vd %d", c.TransformerLayerConfig.NumHiddenLayers, c.DType, c.DraftVocabSize())
	}
	if c.TransformerLayerConfig.RopeTheta != "1000000.0" {
		t.Errorf("rope_theta %s, want the source's", c.TransformerLayerConfig.RopeTheta)
	}
}

// TestDFlashFused: fused qkv split, Laguna extras dropped and reported, the
// layer-id shift, fc truncated, embeddings and lm_head from the verifier
// (format-spec §7 vectors 11-12).
func TestDFlashFused(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res, err := Convert(Options{Algorithm: "dflash", Source: "testdata/dflash_fused", Verifier: "testdata/verifier_qwen3", OutputPath: out})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	want := loadExpected(t, "dflash_fused")
	checkTensors(t, out, want)
	if got := droppedNames(res); !reflect.DeepEqual(got, sorted(want.Dropped)) {
		t.Errorf("dropped %v, want %v", got, sorted(want.Dropped))
	}
	c, _ := loadConfig(t, out)
	d := c.DFlashFields()
	if !reflect.DeepEqual(d.AuxHiddenStateLayerIDs, []int{1, 2, 3, 4}) {
		t.Errorf("aux ids %v, want [1 2 3 4] (target ids +1, without the verifier's last layer 5)", d.AuxHiddenStateLayerIDs)
	}
	if d.BlockSize != 4 || c.SpeculativeTokens() != 3 || d.SampleFromAnchor || d.DraftVocabSize != 40 || *d.MaskTokenID != 39 {
		t.Errorf("block %d tokens %d anchor %v Vd %d mask %v", d.BlockSize, c.SpeculativeTokens(), d.SampleFromAnchor, d.DraftVocabSize, *d.MaskTokenID)
	}
	if c.TransformerLayerConfig.ModelType != "qwen3" || c.DType != "bfloat16" || !reflect.DeepEqual(c.Architectures, []string{"DFlashDraftModel"}) {
		t.Errorf("model_type %s dtype %s arch %v", c.TransformerLayerConfig.ModelType, c.DType, c.Architectures)
	}
}

// TestDFlashVectors checks format-spec §7 vectors 11-12 on the z-lab config
// of the upstream test: target ids [1,9,17,25,33] with 36 and 34 verifier
// layers, and block sizes 16 and 8.
func TestDFlashVectors(t *testing.T) {
	for _, tc := range []struct {
		layers, block int
		wantAux       []int
	}{
		{36, 16, []int{2, 10, 18, 26, 34}},
		{34, 16, []int{2, 10, 18, 26}},
		{36, 8, []int{2, 10, 18, 26, 34}},
	} {
		dir := t.TempDir()
		src := filepath.Join(dir, "src")
		ver := filepath.Join(dir, "ver")
		H := 8
		writeConfig(t, src, map[string]any{"model_type": "qwen3", "architectures": []any{"DFlashDraftModel"}, "block_size": tc.block, "num_target_layers": 36,
			"dflash_config": map[string]any{"mask_token_id": 151669, "target_layer_ids": []any{1, 9, 17, 25, 33}},
			"vocab_size":    48, "hidden_size": H, "intermediate_size": 12, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4})
		A := len(tc.wantAux)
		ts := []safetensors.Tensor{rnd("fc.weight", H, 5*H), rnd("hidden_norm.weight", H), rnd("norm.weight", H)}
		ts = append(ts, decoderTensors("layers.0.", H, 8, 4, 12, H, true)...)
		if err := safetensors.WriteFile(filepath.Join(src, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		writeConfig(t, ver, map[string]any{"architectures": []any{"Qwen3ForCausalLM"}, "hidden_size": H, "num_hidden_layers": tc.layers, "vocab_size": 48})
		if err := safetensors.WriteFile(filepath.Join(ver, "model.safetensors"), []safetensors.Tensor{rnd("model.embed_tokens.weight", 48, H)}, nil); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		_, err := Convert(Options{Algorithm: "dflash", Source: src, Verifier: ver, OutputPath: out})
		if A != 5 {
			// A 5-wide fc with 4 aux ids is only truncated for fused (Laguna)
			// sources, as in Python; the plain layout fails loudly.
			if err == nil || !strings.Contains(err.Error(), "fc.weight") {
				t.Errorf("%d layers: err %v, want an fc.weight shape error", tc.layers, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _ := loadConfig(t, out)
		if got := c.DFlashFields().AuxHiddenStateLayerIDs; !reflect.DeepEqual(got, tc.wantAux) {
			t.Errorf("%d layers: aux %v, want %v", tc.layers, got, tc.wantAux)
		}
		if c.SpeculativeTokens() != tc.block-1 || c.DraftVocabSize() != 48 {
			t.Errorf("block %d: speculative_tokens %d Vd %d", tc.block, c.SpeculativeTokens(), c.DraftVocabSize())
		}
		ck, _ := safetensors.OpenDir(out)
		emb, _ := ck.Info("embed_tokens.weight")
		head, _ := ck.Info("lm_head.weight")
		ck.Close()
		if !slices.Equal(emb.Shape, []int64{48, int64(H)}) || !slices.Equal(head.Shape, emb.Shape) {
			t.Errorf("embed %v lm_head %v (tied verifier: lm_head falls back to the embedding)", emb.Shape, head.Shape)
		}
	}
}

// TestMTP extracts the MTP head of a sharded verifier, fuses the experts
// and never writes verifier_lm_head.weight; then stitches it back.
func TestMTP(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "mtp")
	res, err := Convert(Options{Algorithm: "mtp", Source: "testdata/mtp_verifier", Verifier: "testdata/mtp_verifier", OutputPath: out,
		Kwargs: map[string]any{"num_speculative_steps": json.Number("2")}})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	checkTensors(t, out, loadExpected(t, "mtp_verifier"))
	c, _ := loadConfig(t, out)
	if c.SpeculativeTokens() != 2 || c.MTP.NumNextnPredictLayers != 1 || c.TransformerLayerConfig.ModelType != "qwen3_next" {
		t.Errorf("tokens %d nextn %d type %s", c.SpeculativeTokens(), c.MTP.NumNextnPredictLayers, c.TransformerLayerConfig.ModelType)
	}

	// Stitching the unchanged head back reproduces the verifier byte for byte.
	back := filepath.Join(tmp, "back")
	sres, err := Stitch(StitchOptions{Finetuned: out, Verifier: "testdata/mtp_verifier", OutputPath: back})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sres.Rewritten, []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
		t.Errorf("rewritten %v", sres.Rewritten)
	}
	for _, f := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "config.json"} {
		a, _ := os.ReadFile(filepath.Join("testdata/mtp_verifier", f))
		b, _ := os.ReadFile(filepath.Join(back, f))
		if string(a) != string(b) {
			t.Errorf("%s differs after a round trip", f)
		}
	}
}

// TestStitchFinetuned stitches a changed float32 head into the bf16 verifier:
// only mtp.* change, cast to bf16 as torch does.
func TestStitchFinetuned(t *testing.T) {
	out := filepath.Join(t.TempDir(), "stitched")
	if _, err := Stitch(StitchOptions{Finetuned: "testdata/mtp_finetuned", Verifier: "testdata/mtp_verifier", OutputPath: out}); err != nil {
		t.Fatal(err)
	}
	want := loadExpected(t, "mtp_stitched")
	ck, err := safetensors.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	orig, err := safetensors.OpenDir("testdata/mtp_verifier")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if !reflect.DeepEqual(ck.Names(), orig.Names()) {
		t.Fatalf("names changed")
	}
	for _, n := range ck.Names() {
		b, _ := ck.Bytes(n)
		if w, ok := want.Tensors[n]; ok {
			if hex.EncodeToString(b) != w.Hex {
				t.Errorf("%s: stitched bytes differ from torch's", n)
			}
			continue
		}
		a, _ := orig.Bytes(n)
		if string(a) != string(b) {
			t.Errorf("%s changed but is not an MTP tensor", n)
		}
	}
	if len(want.Tensors) != 23 {
		t.Errorf("%d expected stitched tensors", len(want.Tensors))
	}
	a, _ := os.ReadFile("testdata/mtp_verifier/model.safetensors.index.json")
	b, _ := os.ReadFile(filepath.Join(out, "model.safetensors.index.json"))
	if string(a) != string(b) {
		t.Error("index changed")
	}
}

// TestHASS converts to the historical eagle form.
func TestHASS(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res, err := Convert(Options{Algorithm: "eagle", Source: "testdata/hass", Verifier: "testdata/verifier_llama", OutputPath: out})
	if err != nil {
		t.Fatal(err)
	}
	want := loadExpected(t, "hass")
	checkTensors(t, out, want)
	if got := droppedNames(res); !reflect.DeepEqual(got, want.Dropped) {
		t.Errorf("dropped %v", got)
	}
	raw, err := readJSON(filepath.Join(out, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if raw["fusion_bias"] != true || raw["layernorms"] != true || raw["speculators_model_type"] != "eagle" {
		t.Errorf("config %v", raw)
	}
	tl := raw["transformer_layer_config"].(map[string]any)
	if _, ok := tl["bos_token_id"]; ok {
		t.Error("bos_token_id 1 equals LlamaConfig's default and is not written")
	}
	if tl["eos_token_id"] != json.Number("128001") {
		t.Errorf("eos_token_id %v", tl["eos_token_id"])
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
