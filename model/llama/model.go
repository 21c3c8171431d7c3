package llama

import (
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
	Wq, Wk, Wv, Wo    []float32 // (NH·HD, H), (KVH·HD, H) ×2, (H, NH·HD)
	Bq, Bk, Bv, Bo    []float32
	QNorm, KNorm      []float32 // (HD), Qwen3
	Wg, Wu, Wd        []float32 // (I, H) ×2, (H, I)
	Bg, Bu, Bd        []float32
	Window            int // sliding window, 0 for full attention
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

// Load reads config.json and the safetensors weights (one file or an
// indexed set of shards) of a Hugging Face model directory. BF16, F16 and
// F32 weights are converted to float32. Every tensor is checked against the
// shapes the config implies; missing tensors are named.
func Load(dir string) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	defer ck.Close()
	m, err := FromCheckpoint(cfg, ck)
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", dir, err)
	}
	m.Dir = dir
	return m, nil
}

// tensorSource is what FromCheckpoint reads weights from.
type tensorSource interface {
	Info(name string) (safetensors.TensorInfo, bool)
	ReadFloat32(name string, dst []float32) error
}

type wantTensor struct {
	name  string
	shape []int
	dst   *[]float32
}

// FromCheckpoint builds a Model from a resolved config and open weights.
func FromCheckpoint(cfg *Config, src tensorSource) (*Model, error) {
	m := &Model{Config: cfg}
	H, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	qd, kvd, hd := cfg.NumAttentionHeads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim, cfg.HeadDim
	var want []wantTensor
	add := func(name string, dst *[]float32, shape ...int) {
		want = append(want, wantTensor{name, shape, dst})
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
		add(p+"self_attn.q_proj.weight", &l.Wq, qd, H)
		add(p+"self_attn.k_proj.weight", &l.Wk, kvd, H)
		add(p+"self_attn.v_proj.weight", &l.Wv, kvd, H)
		add(p+"self_attn.o_proj.weight", &l.Wo, H, qd)
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
		add(p+"mlp.gate_proj.weight", &l.Wg, I, H)
		add(p+"mlp.up_proj.weight", &l.Wu, I, H)
		add(p+"mlp.down_proj.weight", &l.Wd, H, I)
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
		*w.dst = make([]float32, n)
		if err := src.ReadFloat32(w.name, *w.dst); err != nil {
			return nil, err
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

// NumParams is the number of weights (tied embeddings counted once).
func (m *Model) NumParams() int64 {
	n := int64(len(m.Embed) + len(m.Norm))
	if !m.Config.Tied {
		n += int64(len(m.LMHead))
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, w := range [][]float32{l.AttnNorm, l.MLPNorm, l.Wq, l.Wk, l.Wv, l.Wo, l.Bq, l.Bk, l.Bv, l.Bo, l.QNorm, l.KNorm, l.Wg, l.Wu, l.Wd, l.Bg, l.Bu, l.Bd} {
			n += int64(len(w))
		}
	}
	return n
}
