// Package testckpt writes small speculators checkpoints (config.json plus
// model.safetensors) with random weights of the right shapes, for tests of
// the packages that read, convert, train or validate them. Nothing is
// downloaded: the shapes follow format-spec §4 and the configs §3.
//
// The tensor lists here are written out by hand from the spec, on purpose
// independently of the validate package's tables, so each checks the other.
//
// Shape legend: H hidden, V verifier vocabulary, Vd draft vocabulary, A aux
// layers, Hq = heads*head_dim, Hkv = kv_heads*head_dim, I intermediate.
package testckpt

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

// Init chooses the distribution of the float weights.
type Init int

const (
	// Trained gives heavy-tailed weights whose statistics match no fresh
	// initialisation, and norm weights near but not equal to 1.
	Trained Init = iota
	// Fresh gives what a freshly initialised HF model holds: Linear and
	// embedding weights normal(0, 0.02), norm weights exactly 1.
	Fresh
)

// Options describes the checkpoint. Zero numeric fields are errors except
// where noted; start from Tiny or Published and change fields.
type Options struct {
	Algorithm    string // eagle3, peagle, dflash, dspark, mtp
	ModelType    string // transformer_layer_config.model_type: llama or qwen3
	Hidden       int
	Heads        int
	KVHeads      int
	HeadDim      int
	Intermediate int
	Layers       int
	Vocab        int // verifier vocabulary V
	DraftVocab   int // Vd; equal to Vocab means no d2t/t2d
	AuxIDs       []int
	TargetHidden int // 0 writes null
	// eagle3/peagle flags
	NormBeforeFC, FCNorm, NormOutput, NormBeforeResidual bool
	AttentionBias                                        bool
	Embed                                                bool // write embed_tokens.weight
	// dflash/dspark
	BlockSize  int
	MarkovRank int
	// MaskTokenID for peagle, dflash, dspark.
	MaskTokenID       int
	SpeculativeTokens int
	// Verifier and VerifierArchs fill speculators_config.verifier
	// ("test/verifier", ["Qwen3ForCausalLM"] when empty).
	Verifier      string
	VerifierArchs []string
	DType         safetensors.DType // float dtype; BF16 if empty
	Init          Init
	Seed          uint64
	// MaxShardSize > 0 writes HF-style shards with an index.
	MaxShardSize int64
}

// Tiny is the §3.1 published eagle3 config scaled down: a llama layer with
// Hq = 2H, I = 3H, four aux layers, norm_before_fc, norm_output and
// norm_before_residual, and a reduced draft vocabulary (Vd < V).
func Tiny() Options {
	return Options{
		Algorithm: "eagle3", ModelType: "llama",
		Hidden: 32, Heads: 4, KVHeads: 2, HeadDim: 16, Intermediate: 96, Layers: 1,
		Vocab: 512, DraftVocab: 96, AuxIDs: []int{2, 46, 91, 93},
		NormBeforeFC: true, NormOutput: true, NormBeforeResidual: true, Embed: true,
		SpeculativeTokens: 3, DType: safetensors.BF16, Seed: 1,
	}
}

// Published is the full-size §3.1 config, whose config.json is byte for
// byte the published file (hidden 4096, 64 heads of 128, 4 KV
// heads, intermediate 12288, vocabulary 151936, draft vocabulary 32000):
// about 1.1e9 parameters, 2.2 GB in bf16.
func Published() Options {
	return Options{
		Algorithm: "eagle3", ModelType: "llama",
		Hidden: 4096, Heads: 64, KVHeads: 4, HeadDim: 128, Intermediate: 12288, Layers: 1,
		Vocab: 151936, DraftVocab: 32000, AuxIDs: []int{2, 46, 91, 93},
		NormBeforeFC: true, NormOutput: true, NormBeforeResidual: true, Embed: true,
		SpeculativeTokens: 3, DType: safetensors.BF16, Seed: 1,
		Verifier: "<verifier id or path>", VerifierArchs: []string{"Qwen3MoeForCausalLM"},
	}
}

// ForAlgorithm returns Tiny adapted to another algorithm: qwen3 layers, three
// aux layers, and the keys that algorithm needs (mask token, block size,
// Markov rank).
func ForAlgorithm(algorithm string) Options {
	o := Tiny()
	o.Algorithm = algorithm
	switch algorithm {
	case "peagle":
		o.ModelType = "qwen3"
		o.AuxIDs = []int{2, 16, 29}
		o.MaskTokenID = 7
		o.SpeculativeTokens = 8
	case "dflash", "dspark":
		o.ModelType = "qwen3"
		o.AuxIDs = []int{2, 16, 29}
		o.Layers = 2
		o.NormBeforeFC, o.NormOutput, o.NormBeforeResidual = false, false, false
		o.MaskTokenID = 7
		o.BlockSize = 8
		o.SpeculativeTokens = 7
		if algorithm == "dspark" {
			o.MarkovRank = 8
			o.SpeculativeTokens = 8
		}
	case "mtp":
		o.ModelType = "qwen3"
		o.AuxIDs = nil
		o.DraftVocab = o.Vocab
		o.Embed = false
		o.NormBeforeFC, o.NormOutput, o.NormBeforeResidual = false, false, false
	}
	return o
}

func (o *Options) dtype() safetensors.DType {
	if o.DType == "" {
		return safetensors.BF16
	}
	return o.DType
}

func (o *Options) numAux() int {
	if o.AuxIDs == nil {
		return 3
	}
	return len(o.AuxIDs)
}

func (o *Options) targetHidden() int {
	if o.TargetHidden > 0 {
		return o.TargetHidden
	}
	return o.Hidden
}

func (o *Options) check() error {
	for name, v := range map[string]int{"Hidden": o.Hidden, "Heads": o.Heads, "KVHeads": o.KVHeads, "HeadDim": o.HeadDim,
		"Intermediate": o.Intermediate, "Layers": o.Layers, "Vocab": o.Vocab, "DraftVocab": o.DraftVocab} {
		if v <= 0 {
			return fmt.Errorf("testckpt: %s = %d", name, v)
		}
	}
	if o.DraftVocab > o.Vocab {
		return fmt.Errorf("testckpt: DraftVocab %d > Vocab %d", o.DraftVocab, o.Vocab)
	}
	return nil
}

// Config returns the config.json of the checkpoint, shaped like the §3.1
// published file.
func Config(o Options) (*config.Speculator, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	c, err := config.New(o.Algorithm)
	if err != nil {
		return nil, err
	}
	c.SpeculatorsVersion = "0.8.0.dev0"
	c.TransformersVersion = "4.57.6"
	c.DType = o.dtype().TorchName()
	c.Keep("dtype")
	name, archs := o.Verifier, o.VerifierArchs
	if name == "" {
		name = "test/verifier"
	}
	if archs == nil {
		archs = []string{"Qwen3ForCausalLM"}
	}
	c.SpeculatorsConfig.Verifier = config.Verifier{NameOrPath: &name, Architectures: archs}
	c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = o.SpeculativeTokens
	if o.SpeculativeTokens == 0 {
		c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens = 3
	}
	kv, hd, sw := o.KVHeads, o.HeadDim, 2048
	layerTypes := make([]string, o.Layers)
	for i := range layerTypes {
		layerTypes[i] = "sliding_attention"
	}
	c.TransformerLayerConfig = config.LayerConfig{
		ModelType: o.ModelType, VocabSize: o.Vocab, HiddenSize: o.Hidden, IntermediateSize: o.Intermediate,
		NumHiddenLayers: o.Layers, NumAttentionHeads: o.Heads, NumKeyValueHeads: &kv, HeadDim: &hd,
		HiddenAct: "silu", MaxPositionEmbeddings: 262144, RMSNormEps: config.Float(1e-6), RopeTheta: config.Int(5000000),
		AttentionDropout: config.Float(0), InitializerRange: config.Float(0.02), UseCache: true,
		LayerTypes: layerTypes, SlidingWindow: &sw, UseSlidingWindow: true, AttentionBias: o.AttentionBias,
	}
	c.TransformerLayerConfig.Keep("attention_bias", "rope_scaling")
	if o.ModelType == "llama" {
		c.TransformerLayerConfig.PretrainingTP = 1
		c.TransformerLayerConfig.Keep("mlp_bias")
	}
	var th *int
	if o.TargetHidden > 0 {
		t := o.TargetHidden
		th = &t
	}
	mask := o.MaskTokenID
	if e := c.EagleFields(); e != nil {
		e.DraftVocabSize = o.DraftVocab
		e.EagleAuxHiddenStateLayerIDs = o.AuxIDs
		e.TargetHiddenSize = th
		e.NormBeforeFC, e.FCNorm, e.NormOutput, e.NormBeforeResidual = o.NormBeforeFC, o.FCNorm, o.NormOutput, o.NormBeforeResidual
	}
	if c.PEagle != nil {
		c.PEagle.MaskTokenID = &mask
	}
	if d := c.DFlashFields(); d != nil {
		d.DraftVocabSize = o.DraftVocab
		d.AuxHiddenStateLayerIDs = o.AuxIDs
		d.TargetHiddenSize = th
		d.MaskTokenID = &mask
		d.BlockSize = o.BlockSize
	}
	if c.DSpark != nil {
		c.DSpark.MarkovRank = o.MarkovRank
		c.DSpark.ConfidenceHeadWithMarkov = o.MarkovRank > 0
	}
	return c, nil
}

// kind says how a tensor's values are drawn.
type kind int

const (
	linear kind = iota // Linear weights and embeddings
	norm               // RMSNorm weights (1 at init)
	bias               // biases (0 at init)
)

type spec struct {
	name  string
	shape []int64
	kind  kind
}

// layout lists the float tensors of the checkpoint (format-spec §4).
func layout(o Options) []spec {
	H, V, Vd := int64(o.Hidden), int64(o.Vocab), int64(o.DraftVocab)
	A, Ht := int64(o.numAux()), int64(o.targetHidden())
	Hq, Hkv, I, hd := int64(o.Heads*o.HeadDim), int64(o.KVHeads*o.HeadDim), int64(o.Intermediate), int64(o.HeadDim)
	var out []spec
	add := func(name string, k kind, shape ...int64) { out = append(out, spec{name, shape, k}) }
	decoder := func(prefix string, in int64) {
		add(prefix+"input_layernorm.weight", norm, H)
		add(prefix+"post_attention_layernorm.weight", norm, H)
		add(prefix+"self_attn.q_proj.weight", linear, Hq, in)
		add(prefix+"self_attn.k_proj.weight", linear, Hkv, in)
		add(prefix+"self_attn.v_proj.weight", linear, Hkv, in)
		add(prefix+"self_attn.o_proj.weight", linear, H, Hq)
		if o.AttentionBias {
			add(prefix+"self_attn.q_proj.bias", bias, Hq)
			add(prefix+"self_attn.k_proj.bias", bias, Hkv)
			add(prefix+"self_attn.v_proj.bias", bias, Hkv)
			add(prefix+"self_attn.o_proj.bias", bias, H)
		}
		if o.ModelType == "qwen3" {
			add(prefix+"self_attn.q_norm.weight", norm, hd)
			add(prefix+"self_attn.k_norm.weight", norm, hd)
		}
		add(prefix+"mlp.gate_proj.weight", linear, I, H)
		add(prefix+"mlp.up_proj.weight", linear, I, H)
		add(prefix+"mlp.down_proj.weight", linear, H, I)
	}
	switch o.Algorithm {
	case "eagle3", "peagle":
		if o.Embed {
			add("embed_tokens.weight", linear, V, H)
		}
		add("fc.weight", linear, H, A*Ht)
		if o.NormBeforeFC {
			add("input_norm.weight", norm, A*Ht)
		}
		if o.FCNorm {
			for i := int64(0); i < A; i++ {
				add(fmt.Sprintf("fc_norm.%d.weight", i), norm, Ht)
			}
		}
		add("layers.0.hidden_norm.weight", norm, H)
		for k := 0; k < o.Layers; k++ {
			in := H
			if k == 0 {
				in = 2 * H
			}
			decoder(fmt.Sprintf("layers.%d.", k), in)
		}
		add("norm.weight", norm, H)
		add("lm_head.weight", linear, Vd, H)
		if o.Algorithm == "peagle" {
			add("mask_hidden", linear, 1, 1, A*Ht)
		}
	case "dflash", "dspark":
		if o.Embed {
			add("embed_tokens.weight", linear, V, H)
		}
		add("fc.weight", linear, H, A*Ht)
		add("hidden_norm.weight", norm, H)
		for k := 0; k < o.Layers; k++ {
			decoder(fmt.Sprintf("layers.%d.", k), H)
		}
		add("norm.weight", norm, H)
		add("lm_head.weight", linear, Vd, H)
		if o.Algorithm == "dspark" {
			r := int64(o.MarkovRank)
			conf := H
			if r > 0 {
				add("markov_head.markov_w1.weight", linear, V, r)
				add("markov_head.markov_w2.weight", linear, Vd, r)
				conf += r
			}
			add("confidence_head.proj.weight", linear, 1, conf)
			add("confidence_head.proj.bias", bias, 1)
		}
	case "mtp":
		p := "mtp_layers.0."
		add(p+"input_proj.weight", linear, H, 2*H)
		add(p+"hidden_layernorm.weight", norm, H)
		add(p+"token_layernorm.weight", norm, H)
		add(p+"final_layernorm.weight", norm, H)
		decoder(p, H)
	}
	return out
}

// Tensors returns the checkpoint's tensors. Float tensors stream their bytes
// from a seeded generator (the same Options give the same bytes), so even
// the full-size checkpoint is written without holding it in memory.
func Tensors(o Options) ([]safetensors.Tensor, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	dt := o.dtype()
	var ts []safetensors.Tensor
	for _, s := range layout(o) {
		s := s
		ts = append(ts, safetensors.Tensor{Name: s.name, DType: dt, Shape: s.shape,
			Write: func(w io.Writer) error { return writeValues(w, dt, s, o) }})
	}
	if o.DraftVocab != o.Vocab {
		d2t, t2d := VocabMap(o.Vocab, o.DraftVocab, o.Seed)
		d := make([]byte, 8*len(d2t))
		for i, v := range d2t {
			binary.LittleEndian.PutUint64(d[8*i:], uint64(v))
		}
		t := make([]byte, len(t2d))
		for i, v := range t2d {
			if v {
				t[i] = 1
			}
		}
		ts = append(ts,
			safetensors.Tensor{Name: "d2t", DType: safetensors.I64, Shape: []int64{int64(o.DraftVocab)}, Data: d},
			safetensors.Tensor{Name: "t2d", DType: safetensors.BOOL, Shape: []int64{int64(o.Vocab)}, Data: t})
	}
	return ts, nil
}

// VocabMap picks vd of v verifier ids (0 always, the rest at random but
// spread out) and returns the offsets d2t (target id of draft id i is
// i+d2t[i]) and the membership mask t2d, as format-spec §4.6 defines them.
func VocabMap(v, vd int, seed uint64) (d2t []int64, t2d []bool) {
	t2d = make([]bool, v)
	r := newRNG(seed ^ 0x5eed)
	t2d[0] = true
	n := 1
	for n < vd {
		j := int(r.next() % uint64(v))
		if !t2d[j] {
			t2d[j] = true
			n++
		}
	}
	d2t = make([]int64, 0, vd)
	for j, in := range t2d {
		if in {
			d2t = append(d2t, int64(j-len(d2t)))
		}
	}
	return d2t, t2d
}

// Write writes config.json and the weights (model.safetensors, or shards
// with an index when MaxShardSize > 0) into dir, creating it.
func Write(dir string, o Options) error {
	c, err := Config(o)
	if err != nil {
		return err
	}
	ts, err := Tensors(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := config.Save(filepath.Join(dir, "config.json"), c); err != nil {
		return err
	}
	return safetensors.WriteDir(dir, ts, map[string]string{"format": "pt"}, o.MaxShardSize)
}

// rng is splitmix64: fast, seedable, good enough for test weights.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// normal returns a standard normal draw (Box-Muller).
func (r *rng) normal() float64 {
	u1 := (float64(r.next()>>11) + 0.5) / (1 << 53)
	u2 := float64(r.next()>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

func writeValues(w io.Writer, dt safetensors.DType, s spec, o Options) error {
	h := fnv.New64a()
	h.Write([]byte(s.name))
	r := newRNG(o.Seed ^ h.Sum64())
	n := int64(1)
	for _, d := range s.shape {
		n *= d
	}
	size := int64(dt.Size())
	buf := make([]byte, 0, 1<<16)
	vals := make([]float32, 0, (1<<16)/size)
	flush := func() error {
		b, err := encode(dt, vals, buf[:0])
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		vals = vals[:0]
		return err
	}
	fastBF16 := dt == safetensors.BF16 && o.Init == Trained && s.kind == linear
	for i := int64(0); i < n; {
		if fastBF16 {
			// Heavy-tailed bf16 straight from random bits: random sign,
			// exponent 2^-10..2^-3, random mantissa. Four values per draw.
			m := min(n-i, int64(cap(buf))/2)
			b := buf[:2*m]
			j := int64(0)
			for ; j+4 <= m; j += 4 {
				// The four lanes at once; no lane carries into the next.
				x := r.next()
				exp := ((x>>7)&0x0007000700070007 + 0x0075007500750075) << 7
				binary.LittleEndian.PutUint64(b[2*j:], x&0x8000800080008000|exp|x&0x007f007f007f007f)
			}
			if j < m {
				x := r.next()
				for k := int64(0); j+k < m; k++ {
					v := uint16(x >> (16 * k))
					sign := v & 0x8000
					exp := uint16(117+int(v>>7&7)) << 7 // biased exponents 117..124
					binary.LittleEndian.PutUint16(b[2*(j+k):], sign|exp|(v&0x7f))
				}
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			i += m
			continue
		}
		vals = append(vals, value(r, s.kind, o.Init))
		i++
		if len(vals) == cap(vals) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(vals) > 0 {
		return flush()
	}
	return nil
}

func value(r *rng, k kind, init Init) float32 {
	if init == Fresh {
		switch k {
		case norm:
			return 1
		case bias:
			return 0
		}
		return float32(0.02 * r.normal())
	}
	// Trained: Laplace-like (heavy tails), scale unlike any init.
	u := (float64(r.next()>>11) + 0.5) / (1 << 53)
	lap := math.Log(2 * u)
	if u > 0.5 {
		lap = -math.Log(2 - 2*u)
	}
	switch k {
	case norm:
		return float32(1 + 0.1*lap)
	case bias:
		return float32(0.01 * lap)
	}
	return float32(0.03 * lap)
}

func encode(dt safetensors.DType, vals []float32, buf []byte) ([]byte, error) {
	sz := dt.Size()
	if cap(buf) < len(vals)*sz {
		buf = make([]byte, len(vals)*sz)
	}
	buf = buf[:len(vals)*sz]
	for i, v := range vals {
		switch dt {
		case safetensors.BF16:
			binary.LittleEndian.PutUint16(buf[2*i:], safetensors.Float32ToBF16(v))
		case safetensors.F16:
			binary.LittleEndian.PutUint16(buf[2*i:], safetensors.Float32ToF16(v))
		case safetensors.F32:
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		case safetensors.F64:
			binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(float64(v)))
		default:
			return nil, fmt.Errorf("testckpt: %s is not a float dtype", dt)
		}
	}
	return buf, nil
}
