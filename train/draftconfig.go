package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/speculators-go/speculators/config"
)

// Version strings written into config.json: the speculators and
// transformers releases whose checkpoint format this writer reproduces
// (format-spec §9 asks writers to pick one).
const (
	SpeculatorsVersion  = "0.8.0.dev0"
	TransformersVersion = "4.57.6"
)

// DraftOptions are the model flags of scripts/train.py for eagle3.
type DraftOptions struct {
	Arch                 string // llama (default) or qwen3
	NumLayers            int    // 1
	DraftVocabSize       int    // Vd; 0 or V means the full vocabulary
	TargetLayerIDs       []int  // nil: [2, n/2, n-3]
	TTTSteps             int    // speculative_tokens written to the config (3)
	SlidingWindow        int    // 2048; 0 disables
	FullAttentionIndices []int
	NormBeforeResidual   bool
	NormBeforeFC         bool
	FCNorm               bool
	NormOutput           bool
	EmbedRequiresGrad    bool
	VerifierNameOrPath   string // written as speculators_config.verifier.name_or_path
}

// verifierInfo is what the draft config copies from the verifier's config.json.
type verifierInfo struct {
	raw           map[string]any // the text config
	architectures []string
	layers        int
	vocab         int
}

func readVerifierConfig(dir string) (*verifierInfo, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: verifier: %w", err)
	}
	if len(data) > config.MaxFileSize {
		return nil, fmt.Errorf("train: verifier %s: %d bytes is too large for a config", path, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("train: verifier %s: %w", path, err)
	}
	v := &verifierInfo{raw: top}
	if archs, ok := top["architectures"].([]any); ok {
		for _, a := range archs {
			if s, ok := a.(string); ok {
				v.architectures = append(v.architectures, s)
			}
		}
	}
	if tc, ok := top["text_config"].(map[string]any); ok {
		v.raw = tc
	}
	v.layers = intOf(v.raw["num_hidden_layers"])
	v.vocab = intOf(v.raw["vocab_size"])
	h := intOf(v.raw["hidden_size"])
	if v.layers <= 0 || v.layers > 1024 || v.vocab <= 0 || v.vocab > 1<<24 || h <= 0 || h > 1<<17 {
		return nil, fmt.Errorf("train: verifier %s: num_hidden_layers %d, vocab_size %d, hidden_size %d out of range", path, v.layers, v.vocab, h)
	}
	return v, nil
}

func intOf(x any) int {
	switch n := x.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, err := n.Float64()
			if err != nil || f != float64(int64(f)) {
				return 0
			}
			return int(f)
		}
		if i > 1<<40 || i < -(1<<40) {
			return 0
		}
		return int(i)
	case float64:
		return int(n)
	}
	return 0
}

// DraftConfig builds the eagle3 config.json that scripts/train.py writes
// for this verifier (training-spec §5.1, §5.7): the decoder config copies
// the verifier's sizes, norm epsilon, RoPE and initializer range, uses
// --num-layers layers of --draft-arch, and marks every layer sliding with
// --sliding-window unless listed in --full-attention-indices.
func DraftConfig(verifierDir string, o DraftOptions) (*config.Speculator, error) {
	v, err := readVerifierConfig(verifierDir)
	if err != nil {
		return nil, err
	}
	return draftConfigFrom(v, o)
}

func draftConfigFrom(v *verifierInfo, o DraftOptions) (*config.Speculator, error) {
	r := v.raw
	if o.Arch == "" {
		o.Arch = "llama"
	}
	if o.Arch != "llama" && o.Arch != "qwen3" {
		return nil, fmt.Errorf("train: --draft-arch %q: want llama or qwen3", o.Arch)
	}
	if o.NumLayers <= 0 || o.NumLayers > 64 {
		return nil, fmt.Errorf("train: --num-layers %d out of range [1, 64]", o.NumLayers)
	}
	if o.NormBeforeFC && o.FCNorm {
		return nil, fmt.Errorf("train: --norm-before-fc and --fc-norm are mutually exclusive")
	}
	h := intOf(r["hidden_size"])
	heads := intOf(r["num_attention_heads"])
	kv := intOf(r["num_key_value_heads"])
	if kv == 0 {
		kv = heads
	}
	hd := intOf(r["head_dim"])
	if hd == 0 && heads > 0 {
		hd = h / heads
	}
	if heads <= 0 || hd <= 0 {
		return nil, fmt.Errorf("train: verifier config: num_attention_heads %d, head_dim %d", heads, hd)
	}
	if h%heads != 0 && h%hd == 0 {
		heads = h / hd
		if heads%kv != 0 {
			kv = heads
		}
	}
	inter := intOf(r["intermediate_size"])
	if inter <= 0 {
		inter = 3 * h
	}
	n := v.layers
	ids := o.TargetLayerIDs
	if ids == nil {
		ids = config.DefaultAuxLayerIDs(n)
	}
	for _, id := range ids {
		if id < 0 || id > n {
			return nil, fmt.Errorf("train: --target-layer-ids: %d outside [0, %d]", id, n)
		}
	}
	vd := o.DraftVocabSize
	if vd <= 0 {
		vd = v.vocab
	}
	if vd > v.vocab {
		return nil, fmt.Errorf("train: --draft-vocab-size %d exceeds the verifier vocabulary %d", vd, v.vocab)
	}
	c, err := config.New("eagle3")
	if err != nil {
		return nil, err
	}
	c.SpeculatorsVersion = SpeculatorsVersion
	c.TransformersVersion = TransformersVersion
	c.DType = "bfloat16"
	c.Keep("dtype")
	name := o.VerifierNameOrPath
	archs := v.architectures
	if archs == nil {
		archs = []string{}
	}
	c.SpeculatorsConfig.Verifier = config.Verifier{NameOrPath: &name, Architectures: archs}
	c.SpeculatorsConfig.Verifier.Keep("name_or_path", "architectures")
	k := o.TTTSteps
	if k <= 0 {
		k = 3
	}
	c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = k
	layerTypes := make([]string, o.NumLayers)
	full := map[int]bool{}
	for _, i := range o.FullAttentionIndices {
		full[i] = true
	}
	for i := range layerTypes {
		if full[i] || o.SlidingWindow <= 0 {
			layerTypes[i] = "full_attention"
		} else {
			layerTypes[i] = "sliding_attention"
		}
	}
	sw := o.SlidingWindow
	eps := config.Number("1e-06")
	if e, ok := r["rms_norm_eps"].(json.Number); ok {
		eps = e
	}
	theta := config.Number("10000.0")
	if t, ok := r["rope_theta"].(json.Number); ok {
		theta = t
	}
	initRange := config.Number("0.02")
	if t, ok := r["initializer_range"].(json.Number); ok {
		initRange = t
	}
	maxPos := intOf(r["max_position_embeddings"])
	if maxPos <= 0 {
		maxPos = 2048
	}
	kvp, hdp := kv, hd
	l := config.LayerConfig{
		ModelType: o.Arch, VocabSize: v.vocab, HiddenSize: h, IntermediateSize: inter,
		NumHiddenLayers: o.NumLayers, NumAttentionHeads: heads, NumKeyValueHeads: &kvp, HeadDim: &hdp,
		HiddenAct: "silu", MaxPositionEmbeddings: maxPos, RMSNormEps: eps, RopeTheta: theta,
		AttentionDropout: config.Float(0), InitializerRange: initRange, UseCache: true,
		LayerTypes: layerTypes, UseSlidingWindow: sw > 0,
	}
	if sw > 0 {
		l.SlidingWindow = &sw
	}
	if rs, ok := r["rope_scaling"].(map[string]any); ok && rs != nil {
		clean := map[string]any{}
		for k, v := range rs {
			if k != "type" && k != "mrope_interleaved" && k != "partial_rotary_factor" {
				clean[k] = v
			}
		}
		if _, ok := clean["rope_type"]; !ok {
			if t, ok := rs["type"]; ok {
				clean["rope_type"] = t
			}
		}
		l.RopeScaling = clean
	}
	l.Keep("attention_bias", "rope_scaling")
	if o.Arch == "llama" {
		l.PretrainingTP = 1
		l.Keep("mlp_bias")
	}
	c.TransformerLayerConfig = l
	e := c.Eagle3
	e.DraftVocabSize = vd
	e.EagleAuxHiddenStateLayerIDs = append([]int(nil), ids...)
	e.NormBeforeFC, e.FCNorm, e.NormOutput, e.NormBeforeResidual = o.NormBeforeFC, o.FCNorm, o.NormOutput, o.NormBeforeResidual
	e.EmbedRequiresGrad = o.EmbedRequiresGrad
	return c, nil
}
