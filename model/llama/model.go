package llama

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/tensor"
)

// Layer holds the float32 weights of one decoder layer in PyTorch layout
// (Linear weights are (Out, In)). Bias and q/k-norm slices are nil when the
// architecture has none.
type Layer struct {
	AttnNorm, MLPNorm []float32 // (H)
	Wq, Wk, Wv, Wo    Weight    // (NH·HD, H), (KVH·HD, H) ×2, (H, NH·HD)
	Bq, Bk, Bv, Bo    []float32
	QNorm, KNorm      []float32 // (HD), Qwen3
	Wg, Wu, Wd        Weight    // (I, H) ×2, (H, I)
	Bg, Bu, Bd        []float32
	Window            int // sliding window, 0 for full attention
}

// Weight is a Linear weight (Out, In): float32, or the bfloat16 bits of a
// bf16 checkpoint, kept as they are because that halves the memory and the
// bytes a decode step streams, and widening bf16 to float32 is exact (the
// products are the same as with converted weights).
type Weight struct {
	F32  []float32
	BF16 []uint16
}

// Len is the number of elements.
func (w Weight) Len() int { return len(w.F32) + len(w.BF16) }

// Float32 returns the weight as float32 (a new slice when stored as bf16).
func (w Weight) Float32() []float32 {
	if w.BF16 == nil {
		return w.F32
	}
	f := make([]float32, len(w.BF16))
	for i, v := range w.BF16 {
		f[i] = tensor.BF16ToFloat32(v)
	}
	return f
}

// forward computes y = x·Wᵀ (+ b). x (N, In); y (N, Out).
func (w *Weight) forward(y, x, b []float32, n, in, out int) {
	if w.BF16 != nil {
		tensor.LinearBF16Forward(y, x, w.BF16, b, n, in, out)
		return
	}
	tensor.LinearAuto(y, x, w.F32, b, n, in, out)
}

// Model is a loaded verifier. It is read-only after Load and safe for
// concurrent use by many States.
type Model struct {
	Config *Config
	Dir    string
	Embed  []float32 // (V, H) model.embed_tokens.weight
	Norm   []float32 // (H) model.norm.weight
	LMHead []float32 // (V, H) lm_head.weight; the same slice as Embed when tied
	Layers []Layer

	invFreq   []float32
	attnScale float32
}

// H, V, N: hidden size, vocabulary, layer count.
func (m *Model) H() int { return m.Config.HiddenSize }
func (m *Model) V() int { return m.Config.VocabSize }
func (m *Model) N() int { return m.Config.NumHiddenLayers }

// DefaultAuxLayers is [2, N/2, N−3] for this model.
func (m *Model) DefaultAuxLayers() []int { return DefaultAuxLayers(m.N()) }

// EOS returns the end-of-sequence ids of config.json and
// generation_config.json (deduplicated, config.json first).
func (m *Model) EOS() ([]int, error) {
	ids := append([]int(nil), m.Config.EOS...)
	gen, err := GenerationEOS(m.Dir)
	if err != nil {
		return nil, err
	}
	for _, g := range gen {
		dup := false
		for _, v := range ids {
			dup = dup || v == g
		}
		if !dup {
			ids = append(ids, g)
		}
	}
	return ids, nil
}

// StopIDs is EOS, or [fallback] (the tokenizer's EOS id) when neither
// config.json nor generation_config.json names one and fallback >= 0.
func (m *Model) StopIDs(fallback int) ([]int, error) {
	ids, err := m.EOS()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 && fallback >= 0 {
		ids = []int{fallback}
	}
	return ids, nil
}

// Load reads config.json and the safetensors weights (one file or an
// indexed set of shards) of a Hugging Face model directory. BF16, F16 and
// F32 weights are converted to float32. Every tensor is checked against the
// shapes the config implies; missing tensors are named.
func Load(dir string) (*Model, error) { return LoadWith(dir, LoadOptions{}) }

// LoadOptions adjust Load.
type LoadOptions struct {
	// Float32 widens bf16 Linear weights to float32 at load instead of
	// keeping them as bf16 (same results, twice the memory and decode
	// traffic; for comparisons).
	Float32 bool
}

// LoadWith is Load with options.
func LoadWith(dir string, opt LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	defer ck.Close()
	m, err := fromCheckpoint(cfg, ck, opt)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", dir, err)
	}
	m.Dir = dir
	return m, nil
}

// TensorSource is what FromCheckpoint reads weights from: a
// *safetensors.Checkpoint or *safetensors.File.
type TensorSource interface {
	Info(name string) (safetensors.TensorInfo, bool)
	ReadFloat32(name string, dst []float32) error
	Bytes(name string) ([]byte, error)
}

type wantTensor struct {
	name  string
	shape []int
	dst   *[]float32
	w     *Weight // Linear weights: kept in bf16 when stored so
}

// FromCheckpoint builds a Model from a resolved config and open weights.
func FromCheckpoint(cfg *Config, src TensorSource) (*Model, error) {
	return fromCheckpoint(cfg, src, LoadOptions{})
}

func fromCheckpoint(cfg *Config, src TensorSource, opt LoadOptions) (*Model, error) {
	m := &Model{Config: cfg}
	H, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	qd, kvd, hd := cfg.NumAttentionHeads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim, cfg.HeadDim
	var want []wantTensor
	add := func(name string, dst *[]float32, shape ...int) {
		want = append(want, wantTensor{name: name, shape: shape, dst: dst})
	}
	addW := func(name string, w *Weight, shape ...int) {
		want = append(want, wantTensor{name: name, shape: shape, w: w})
	}
	add("model.embed_tokens.weight", &m.Embed, V, H)
	add("model.norm.weight", &m.Norm, H)
	if !cfg.Tied {
		add("lm_head.weight", &m.LMHead, V, H)
	}
	m.Layers = make([]Layer, cfg.NumHiddenLayers)
	for i := range m.Layers {
		l := &m.Layers[i]
		l.Window = cfg.Windows[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", &l.AttnNorm, H)
		add(p+"post_attention_layernorm.weight", &l.MLPNorm, H)
		addW(p+"self_attn.q_proj.weight", &l.Wq, qd, H)
		addW(p+"self_attn.k_proj.weight", &l.Wk, kvd, H)
		addW(p+"self_attn.v_proj.weight", &l.Wv, kvd, H)
		addW(p+"self_attn.o_proj.weight", &l.Wo, H, qd)
		if cfg.QKVBias {
			add(p+"self_attn.q_proj.bias", &l.Bq, qd)
			add(p+"self_attn.k_proj.bias", &l.Bk, kvd)
			add(p+"self_attn.v_proj.bias", &l.Bv, kvd)
		}
		if cfg.OBias {
			add(p+"self_attn.o_proj.bias", &l.Bo, H)
		}
		if cfg.QKNorm {
			add(p+"self_attn.q_norm.weight", &l.QNorm, hd)
			add(p+"self_attn.k_norm.weight", &l.KNorm, hd)
		}
		addW(p+"mlp.gate_proj.weight", &l.Wg, I, H)
		addW(p+"mlp.up_proj.weight", &l.Wu, I, H)
		addW(p+"mlp.down_proj.weight", &l.Wd, H, I)
		if cfg.MLPHasBias {
			add(p+"mlp.gate_proj.bias", &l.Bg, I)
			add(p+"mlp.up_proj.bias", &l.Bu, I)
			add(p+"mlp.down_proj.bias", &l.Bd, H)
		}
	}
	// Check everything before reading anything, and name every problem.
	var missing, bad []string
	for _, w := range want {
		info, ok := src.Info(w.name)
		if !ok {
			missing = append(missing, w.name)
			continue
		}
		switch info.DType {
		case safetensors.F32, safetensors.BF16, safetensors.F16:
		default:
			bad = append(bad, fmt.Sprintf("%s has dtype %s (want BF16, F16 or F32)", w.name, info.DType))
			continue
		}
		if !sameShape(info.Shape, w.shape) {
			bad = append(bad, fmt.Sprintf("%s has shape %v, config implies %v", w.name, info.Shape, w.shape))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d missing tensors: %s", len(missing), listSome(missing))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%d bad tensors: %s", len(bad), listSome(bad))
	}
	for _, w := range want {
		n := 1
		for _, d := range w.shape {
			n *= d
		}
		if info, _ := src.Info(w.name); w.w != nil && info.DType == safetensors.BF16 && !opt.Float32 {
			raw, err := src.Bytes(w.name)
			if err != nil {
				return nil, err
			}
			bits := make([]uint16, n)
			for i := range bits {
				bits[i] = binary.LittleEndian.Uint16(raw[2*i:])
			}
			w.w.BF16 = bits
			continue
		}
		f := make([]float32, n)
		if err := src.ReadFloat32(w.name, f); err != nil {
			return nil, err
		}
		if w.w != nil {
			w.w.F32 = f
		} else {
			*w.dst = f
		}
	}
	if cfg.Tied {
		m.LMHead = m.Embed
	}
	inv, scale, err := tensor.RoPEInvFreq(cfg.Rope)
	if err != nil {
		return nil, err
	}
	m.invFreq, m.attnScale = inv, scale
	return m, nil
}

func sameShape(got []int64, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != int64(want[i]) {
			return false
		}
	}
	return true
}

func listSome(s []string) string {
	const show = 8
	if len(s) <= show {
		return strings.Join(s, "; ")
	}
	return strings.Join(s[:show], "; ") + fmt.Sprintf("; and %d more", len(s)-show)
}

// WeightBytes is the memory of the weights as held (bf16 Linear weights at
// two bytes, everything else at four): about what a decode step streams.
func (m *Model) WeightBytes() int64 {
	n := 4 * m.NumParams()
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, w := range []Weight{l.Wq, l.Wk, l.Wv, l.Wo, l.Wg, l.Wu, l.Wd} {
			n -= 2 * int64(len(w.BF16))
		}
	}
	return n
}

// NumParams is the number of weights (tied embeddings counted once).
func (m *Model) NumParams() int64 {
	n := int64(len(m.Embed) + len(m.Norm))
	if !m.Config.Tied {
		n += int64(len(m.LMHead))
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, w := range [][]float32{l.AttnNorm, l.MLPNorm, l.Bq, l.Bk, l.Bv, l.Bo, l.QNorm, l.KNorm, l.Bg, l.Bu, l.Bd} {
			n += int64(len(w))
		}
		for _, w := range []Weight{l.Wq, l.Wk, l.Wv, l.Wo, l.Wg, l.Wu, l.Wd} {
			n += int64(w.Len())
		}
	}
	return n
}
