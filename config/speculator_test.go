package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func intp(i int) *int       { return &i }
func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }
func mustMarshal(t testing.TB, c *Speculator) []byte {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublishedEagle3RoundTrip: the §3.1 config, as Python writes it
// (testdata/eagle3_published.json from gen_pyjson.py), reads with the right
// values and is written back byte for byte.
func TestPublishedEagle3RoundTrip(t *testing.T) {
	data := readGolden(t, "eagle3_published.json")
	c, err := Parse(data, "eagle3_published.json")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Eagle3
	if e == nil || c.SpeculatorsModelType != "eagle3" {
		t.Fatalf("algorithm block not eagle3: %+v", c)
	}
	l := c.TransformerLayerConfig
	checks := []struct {
		name      string
		got, want any
	}{
		{"draft_vocab_size", e.DraftVocabSize, 32000},
		{"aux ids", len(e.EagleAuxHiddenStateLayerIDs), 4},
		{"NumAux", c.NumAux(), 4},
		{"norm_before_fc", e.NormBeforeFC, true},
		{"norm_before_residual", e.NormBeforeResidual, true},
		{"target_hidden_size", e.TargetHiddenSize == nil, true},
		{"speculative_tokens", c.SpeculativeTokens(), 3},
		{"verifier", *c.SpeculatorsConfig.Verifier.NameOrPath, "<verifier id or path>"},
		{"hidden_size", l.HiddenSize, 4096},
		{"vocab_size", l.VocabSize, 151936},
		{"kv heads", l.KVHeads(), 4},
		{"head dim", l.HeadDimension(), 128},
		{"rope_theta stays int", string(l.RopeTheta), "5000000"},
		{"rms_norm_eps", string(l.RMSNormEps), "1e-06"},
		{"model_type", l.ModelType, "llama"},
		{"dtype", c.FloatDType(), "bfloat16"},
		{"accept_tolerance", string(c.SpeculatorsConfig.ProposalMethods[0].AcceptTolerance), "0.0"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if got := mustMarshal(t, c); !bytes.Equal(got, data) {
		t.Errorf("Marshal differs from Python:\n%s\nwant\n%s", got, data)
	}
}

// published31 builds the §3.1 config from scratch in Go, as a writer would.
func published31(t testing.TB) *Speculator {
	c, err := New("eagle3")
	if err != nil {
		t.Fatal(err)
	}
	c.SpeculatorsVersion = "0.8.0.dev0"
	c.TransformersVersion = "4.57.6"
	c.DType = "bfloat16"
	c.Keep("dtype")
	c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = 3
	c.SpeculatorsConfig.Verifier.NameOrPath = strp("<verifier id or path>")
	c.SpeculatorsConfig.Verifier.Architectures = []string{"Qwen3MoeForCausalLM"}
	e := c.Eagle3
	e.EagleAuxHiddenStateLayerIDs = []int{2, 46, 91, 93}
	e.NormBeforeFC, e.NormBeforeResidual, e.NormOutput = true, true, true
	c.TransformerLayerConfig = LayerConfig{
		ModelType: "llama", VocabSize: 151936, HiddenSize: 4096, IntermediateSize: 12288,
		NumHiddenLayers: 1, NumAttentionHeads: 64, NumKeyValueHeads: intp(4), HeadDim: intp(128),
		HiddenAct: "silu", MaxPositionEmbeddings: 262144, RMSNormEps: Float(1e-6), RopeTheta: Int(5000000),
		AttentionDropout: Float(0), InitializerRange: Float(0.02), PretrainingTP: 1, UseCache: true,
		LayerTypes: []string{"sliding_attention"}, SlidingWindow: intp(2048), UseSlidingWindow: true,
	}
	c.TransformerLayerConfig.Keep("attention_bias", "mlp_bias", "rope_scaling")
	return c
}

func TestNewMatchesPython(t *testing.T) {
	want := readGolden(t, "eagle3_published.json")
	if got := mustMarshal(t, published31(t)); !bytes.Equal(got, want) {
		t.Errorf("built config differs from Python:\n%s\nwant\n%s", got, want)
	}
	d, err := New("dflash")
	if err != nil {
		t.Fatal(err)
	}
	d.SpeculatorsVersion, d.TransformersVersion, d.DType = "0.8.0.dev0", "4.57.6", "bfloat16"
	d.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = 15
	d.SpeculatorsConfig.Verifier = Verifier{NameOrPath: strp("Qwen/Qwen3-8B"), Architectures: []string{"Qwen3ForCausalLM"}}
	d.DFlash.AuxHiddenStateLayerIDs = []int{2, 18, 33}
	d.DFlash.BlockSize = 16
	d.DFlash.MaskTokenID = intp(151669)
	d.TransformerLayerConfig = LayerConfig{
		ModelType: "qwen3", HiddenSize: 4096, IntermediateSize: 12288, NumHiddenLayers: 5,
		NumAttentionHeads: 32, NumKeyValueHeads: intp(8), HeadDim: intp(128), MaxWindowLayers: intp(36),
		LayerTypes: []string{"sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention"},
		RMSNormEps: Float(1e-6), RopeTheta: Int(1000000), SlidingWindow: intp(2048), UseSlidingWindow: true, VocabSize: 151936,
	}
	want = readGolden(t, "dflash_example.json")
	if got := mustMarshal(t, d); !bytes.Equal(got, want) {
		t.Errorf("built dflash config differs from Python:\n%s\nwant\n%s", got, want)
	}
	if _, err := Parse(want, "dflash_example.json"); err != nil {
		t.Errorf("Parse(dflash example): %v", err)
	}
}

// TestEveryAlgorithmRoundTrip: New, Marshal, Parse, Marshal gives the same
// bytes, and Parse fills the algorithm block with the Python defaults.
func TestEveryAlgorithmRoundTrip(t *testing.T) {
	for _, algo := range Algorithms {
		t.Run(algo, func(t *testing.T) {
			c, err := New(algo)
			if err != nil {
				t.Fatal(err)
			}
			c.SpeculatorsConfig.Verifier.NameOrPath = strp("verifier")
			c.TransformerLayerConfig = LayerConfig{ModelType: "qwen3", HiddenSize: 64, VocabSize: 1000}
			if d := c.DFlashFields(); d != nil {
				d.AuxHiddenStateLayerIDs = []int{1, 2, 3}
				d.MaskTokenID = intp(5)
			}
			if c.PEagle != nil {
				c.PEagle.MaskTokenID = intp(5)
			}
			b1 := mustMarshal(t, c)
			if strings.Contains(string(b1), `"model_type": "`+algo) || !strings.Contains(string(b1), `"speculators_model_type": "`+algo+`"`) {
				t.Errorf("bad top-level keys:\n%s", b1)
			}
			c2, err := Parse(b1, algo)
			if err != nil {
				t.Fatal(err)
			}
			if b2 := mustMarshal(t, c2); !bytes.Equal(b1, b2) {
				t.Errorf("round trip differs:\n%s\n%s", b1, b2)
			}
			if c2.block() == nil {
				t.Fatal("no algorithm block after Parse")
			}
		})
	}
	// Defaults from the Python classes, used when a key is absent.
	min := func(algo string) *Speculator {
		doc := `{"speculators_model_type": "` + algo + `", "speculators_config": {"algorithm": "` + algo + `",
		"proposal_methods": [{"proposal_type": "greedy"}], "default_proposal_method": "greedy",
		"verifier": {"name_or_path": null, "architectures": []}}, "transformer_layer_config": {}}`
		c, err := Parse([]byte(doc), algo)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := min("peagle"); !c.PEagle.EmbedRequiresGrad || c.PEagle.DraftVocabSize != 32000 || c.SpeculativeTokens() != 5 {
		t.Errorf("peagle defaults: %+v, tokens %d", c.PEagle, c.SpeculativeTokens())
	}
	if c := min("dspark"); !c.DSpark.SampleFromAnchor || c.DSpark.MarkovRank != 256 || c.DSpark.BlockSize != 8 || c.DSpark.MarkovHeadType != "vanilla" {
		t.Errorf("dspark defaults: %+v", c.DSpark)
	}
	if c := min("mtp"); c.MTP.NumNextnPredictLayers != 1 {
		t.Errorf("mtp defaults: %+v", c.MTP)
	}
}

// TestUnknownAndAbsentKeys: keys of older releases are kept in place, keys
// the file lacks are not added, and changed fields are written.
func TestUnknownAndAbsentKeys(t *testing.T) {
	doc := `{"base_model_ep_plan": null, "draft_vocab_size": 100, "has_no_defaults_at_init": false,
	"speculators_config": {"algorithm": "eagle3", "default_proposal_method": "greedy",
	  "proposal_methods": [{"accept_tolerance": 0.0, "proposal_type": "greedy", "speculative_tokens": 3, "verifier_accept_k": 1, "zz": [1.5e-05, {}]}],
	  "verifier": {"architectures": ["LlamaForCausalLM"], "name_or_path": "m", "x\u00e9": 1}},
	"speculators_model_type": "eagle3", "torch_dtype": "float16",
	"transformer_layer_config": {"hidden_size": 8, "model_type": "llama", "rope_theta": 10000.0, "tie_word_embeddings": false, "custom": {"b": 1, "a": [1E6]}}}`
	c, err := Parse([]byte(doc), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := decodeJSON([]byte(doc))
	want, _ := MarshalPython(v)
	if got := mustMarshal(t, c); !bytes.Equal(got, want) {
		t.Errorf("round trip:\n%s\nwant\n%s", got, want)
	}
	if c.Eagle3.NormBeforeResidual || c.Has("norm_before_residual") {
		t.Error("norm_before_residual should be absent and default false")
	}
	c.Eagle3.FCNorm = true                  // absent key changed: written
	c.TransformerLayerConfig.HiddenSize = 8 // unchanged: same bytes
	c.Eagle3.DraftVocabSize = 100           // unchanged
	got := string(mustMarshal(t, c))
	if !strings.Contains(got, `"fc_norm": true`) || strings.Contains(got, "norm_output") {
		t.Errorf("change detection wrong:\n%s", got)
	}
	c.Omit("has_no_defaults_at_init") // unknown keys are removed through Extra, not Omit
	delete(c.Extra, "has_no_defaults_at_init")
	if strings.Contains(string(mustMarshal(t, c)), "has_no_defaults_at_init") {
		t.Error("deleted Extra key still written")
	}
}

func TestParseErrors(t *testing.T) {
	base := string(readGolden(t, "eagle3_published.json"))
	rep := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("%q not in the published config", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name, doc, key, msg string
	}{
		{"invalid JSON", "{", "", "invalid JSON"},
		{"trailing data", base + "}", "", "invalid JSON"},
		{"not an object", "[1]", "", "not a JSON object"},
		{"missing speculators_model_type", rep(`"speculators_model_type": "eagle3",`, ""), "speculators_model_type", "missing"},
		{"speculators_model_type not a string", rep(`"speculators_model_type": "eagle3"`, `"speculators_model_type": 3`), "speculators_model_type", "missing or not a string"},
		{"unknown algorithm", rep(`"speculators_model_type": "eagle3"`, `"speculators_model_type": "medusa"`), "speculators_model_type", "not one of"},
		{"historical eagle", rep(`"speculators_model_type": "eagle3"`, `"speculators_model_type": "eagle"`), "speculators_model_type", "removed"},
		{"algorithm mismatch", rep(`"algorithm": "eagle3"`, `"algorithm": "dflash"`), "speculators_config.algorithm", "does not match"},
		{"algorithm missing", rep(`"algorithm": "eagle3",`, ""), "speculators_config.algorithm", "missing"},
		{"top-level model_type", rep(`"norm_output": true,`, `"norm_output": true, "model_type": "llama",`), "model_type", "must not be written"},
		{"norm_before_fc with fc_norm", rep(`"fc_norm": false`, `"fc_norm": true`), "fc_norm", "both true"},
		{"proposal type", rep(`"proposal_type": "greedy"`, `"proposal_type": "beam"`), "speculators_config.proposal_methods[0].proposal_type", "not a known"},
		{"speculative_tokens 0", rep(`"speculative_tokens": 3`, `"speculative_tokens": 0`), "speculators_config.proposal_methods[0].speculative_tokens", "at least 1"},
		{"speculative_tokens float", rep(`"speculative_tokens": 3`, `"speculative_tokens": 3.0`), "speculators_config.proposal_methods[0].speculative_tokens", "want an integer"},
		{"verifier_accept_k 0", rep(`"verifier_accept_k": 1`, `"verifier_accept_k": 0`), "speculators_config.proposal_methods[0].verifier_accept_k", "at least 1"},
		{"accept_tolerance negative", rep(`"accept_tolerance": 0.0`, `"accept_tolerance": -1.0`), "speculators_config.proposal_methods[0].accept_tolerance", ">= 0"},
		{"accept_tolerance string", rep(`"accept_tolerance": 0.0`, `"accept_tolerance": "0.0"`), "speculators_config.proposal_methods[0].accept_tolerance", "want a number"},
		{"no proposals", rep(base[strings.Index(base, `"proposal_methods": [`):strings.Index(base, `"verifier": {`)], `"proposal_methods": [],`+"\n    "), "speculators_config.proposal_methods", "empty"},
		{"default proposal", rep(`"default_proposal_method": "greedy"`, `"default_proposal_method": "sample"`), "speculators_config.default_proposal_method", "not the proposal_type"},
		{"verifier name missing", rep(`"name_or_path": "<verifier id or path>"`, `"x": 1`), "speculators_config.verifier.name_or_path", "missing"},
		{"speculators_config missing", `{"speculators_model_type": "eagle3", "transformer_layer_config": {}}`, "speculators_config", "missing"},
		{"layer config missing", rep(`"transformer_layer_config": {`, `"transformer_layer_configs": {`), "transformer_layer_config", "missing"},
		{"layer config not object", `{"speculators_model_type": "mtp", "transformer_layer_config": [1]}`, "transformer_layer_config", "want an object"},
		{"draft_vocab_size string", rep(`"draft_vocab_size": 32000`, `"draft_vocab_size": "32000"`), "draft_vocab_size", "want an integer"},
		{"draft_vocab_size zero", rep(`"draft_vocab_size": 32000`, `"draft_vocab_size": 0`), "draft_vocab_size", "at least 1"},
		{"bool null", rep(`"norm_output": true`, `"norm_output": null`), "norm_output", "is null, want a boolean"},
		{"aux ids negative", rep(`    2,
    46,`, `    -2,
    46,`), "eagle_aux_hidden_state_layer_ids[0]", "negative"},
		{"aux ids repeated", rep(`    91,`, `    46,`), "eagle_aux_hidden_state_layer_ids[2]", "twice"},
		{"hidden_size float", rep(`"hidden_size": 4096`, `"hidden_size": 4096.5`), "transformer_layer_config.hidden_size", "want an integer"},
		{"rms_norm_eps string", rep(`"rms_norm_eps": 1e-06`, `"rms_norm_eps": "1e-06"`), "transformer_layer_config.rms_norm_eps", "want a number"},
		{"mtp layers", `{"speculators_model_type": "mtp", "num_nextn_predict_layers": 2}`, "num_nextn_predict_layers", "only 1"},
		{"dspark head", `{"speculators_model_type": "dspark", "markov_head_type": "lstm"}`, "markov_head_type", "vanilla, gated or rnn"},
		{"dspark rank 0", `{"speculators_model_type": "dspark", "markov_rank": 0}`, "confidence_head_with_markov", "markov_rank 0"},
		{"dflash block 0", `{"speculators_model_type": "dflash", "block_size": 0}`, "block_size", "at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "config.json")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error = %v, want *config.Error", err)
			}
			for _, p := range ce.Problems {
				if p.Key == tc.key && strings.Contains(p.Msg, tc.msg) {
					if !strings.Contains(err.Error(), "config.json") {
						t.Errorf("error %q does not name the file", err)
					}
					return
				}
			}
			t.Errorf("problems %v, want key %q with %q", ce.Problems, tc.key, tc.msg)
		})
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := Save(path, published31(t)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, readGolden(t, "eagle3_published.json")) {
		t.Error("saved file differs from Python's")
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDefaultAuxLayerIDs(t *testing.T) {
	// format-spec §7.4
	for n, want := range map[int][3]int{28: {2, 14, 25}, 32: {2, 16, 29}, 36: {2, 18, 33}, 80: {2, 40, 77}} {
		got := DefaultAuxLayerIDs(n)
		if [3]int(got) != want {
			t.Errorf("DefaultAuxLayerIDs(%d) = %v, want %v", n, got, want)
		}
	}
}

// FuzzParse: Parse never panics; what it accepts is written, read back and
// written again to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(readGolden(f, "eagle3_published.json"))
	f.Add(readGolden(f, "dflash_example.json"))
	f.Add([]byte(`{"speculators_model_type": "mtp", "speculators_config": {"algorithm": "mtp", "proposal_methods": [{}], "default_proposal_method": "greedy", "verifier": {"name_or_path": null, "architectures": []}}, "transformer_layer_config": {"a": 1e400}}`))
	f.Add([]byte(`{"speculators_model_type": "dspark"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a *config.Error with problems", err)
			}
			return
		}
		b1, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal after Parse: %v", err)
		}
		if bytes.Contains(b1, []byte("Infinity")) || bytes.Contains(b1, []byte("NaN")) {
			return // Python's non-JSON float spellings do not parse again
		}
		c2, err := Parse(b1, "fuzz2")
		if err != nil {
			t.Fatalf("Parse of our own output: %v\n%s", err, b1)
		}
		b2, err := c2.Marshal()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("not stable: %v\n%s\n%s", err, b1, b2)
		}
	})
}

func ExampleParse() {
	data := []byte(`{"speculators_model_type": "eagle3", "draft_vocab_size": 32000,
	"eagle_aux_hidden_state_layer_ids": [2, 16, 29], "norm_before_residual": true,
	"speculators_config": {"algorithm": "eagle3", "default_proposal_method": "greedy",
	  "proposal_methods": [{"accept_tolerance": 0.0, "proposal_type": "greedy", "speculative_tokens": 3, "verifier_accept_k": 1}],
	  "verifier": {"architectures": ["LlamaForCausalLM"], "name_or_path": "meta-llama/Llama-3.1-8B-Instruct"}},
	"transformer_layer_config": {"model_type": "llama", "hidden_size": 4096, "rms_norm_eps": 1e-05, "rope_theta": 500000.0}}`)
	c, err := Parse(data, "config.json")
	if err != nil {
		panic(err)
	}
	out, _ := c.Marshal()
	os.Stdout.Write(out[bytes.Index(out, []byte(`  "transformer_layer_config"`)):])
	// Output:
	//   "transformer_layer_config": {
	//     "hidden_size": 4096,
	//     "model_type": "llama",
	//     "rms_norm_eps": 1e-05,
	//     "rope_theta": 500000.0
	//   }
	// }
}

func BenchmarkParseMarshal(b *testing.B) {
	data := readGolden(b, "eagle3_published.json")
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse(data, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
