package eagle3

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/tensor"
)

// Shape legend: T tokens, H hidden, A aux layers, V verifier vocabulary, Vd
// draft vocabulary, NH heads, KVH key/value heads, HD head dim, Hq = NH·HD,
// Hkv = KVH·HD, I intermediate, K TTT steps.

// MaxDim bounds every size read from a config so hostile files cannot ask
// for absurd allocations.
const MaxDim = 1 << 20

// MaxParams bounds the number of float32 values a config may ask for (32 GiB).
const MaxParams = 1 << 33

// Layer is one decoder layer. Layer 0 reads [e ; h] (2H inputs) and has
// hidden_norm; the others are standard llama/qwen3 layers of width H.
type Layer struct {
	In         int // 2H for layer 0, H otherwise
	Window     int // sliding window; 0 for full attention
	HiddenNorm *tensor.Param
	InputLN    *tensor.Param
	PostLN     *tensor.Param
	Q, K, V, O *tensor.Param
	QB, KB, VB *tensor.Param // attention_bias, else nil
	OB         *tensor.Param
	QNorm      *tensor.Param // qwen3 only
	KNorm      *tensor.Param
	Gate, Up   *tensor.Param
	Down       *tensor.Param
	GateB, UpB *tensor.Param // llama mlp_bias, else nil
	DownB      *tensor.Param
}

// Model is an EAGLE-3 draft. Trainable weights are tensor.Params (fp32
// master weights); the verifier-derived tensors are plain slices.
type Model struct {
	Cfg *config.Speculator

	H, A, V, Vd, NH, KVH, HD, I, L int
	Eps                            float32
	Arch                           string // llama or qwen3
	NormBeforeFC, FCNorm           bool
	NormOutput, NormBeforeResidual bool
	EmbedRequiresGrad              bool
	AttentionBias, MLPBias         bool

	Embed       *tensor.Param   // (V, H) frozen unless EmbedRequiresGrad
	InputNorm   *tensor.Param   // (A·H) when NormBeforeFC
	FCNorms     []*tensor.Param // A × (H) when FCNorm
	FC          *tensor.Param   // (H, A·H)
	Layers      []*Layer
	Norm        *tensor.Param // (H)
	LMHead      []float32     // (Vd, H) frozen
	VerLMHead   []float32     // (Vd, H) frozen, never saved
	VerNorm     []float32     // (H) frozen, never saved
	D2T         []int64       // (Vd) offsets; nil without vocabulary reduction
	T2D         []bool        // (V)
	invFreq     []float32
	ropeScale   float32
	params      []*tensor.Param // state-dict order
	trainParams []*tensor.Param
}

// Options adjusts New.
type Options struct {
	// Seed drives the initialisation of the trainable weights: Linear
	// weights normal(0, initializer_range), norms 1, biases 0 (HF init).
	Seed uint64
}

// New builds a freshly initialised draft from an eagle3 config. The frozen
// embedding, lm_head and verifier norm start as NaN (as in Python) until
// SetVerifierWeights fills them; d2t/t2d start as the identity when Vd = V
// and must be set with SetVocab otherwise.
func New(cfg *config.Speculator, opt Options) (*Model, error) {
	m, err := shapeFrom(cfg)
	if err != nil {
		return nil, err
	}
	m.alloc()
	std := 0.02
	if s := cfg.TransformerLayerConfig.InitializerRange; s != "" {
		if f, err := s.Float64(); err == nil && f > 0 {
			std = f
		}
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x3a91e))
	for _, p := range m.params {
		switch {
		case p == m.Embed:
			fillNaN(p.W)
		case p.Rows > 0:
			for i := range p.W {
				p.W[i] = float32(rng.NormFloat64() * std)
			}
		case isNorm(p.Name):
			for i := range p.W {
				p.W[i] = 1
			}
		}
	}
	fillNaN(m.LMHead)
	fillNaN(m.VerLMHead)
	for i := range m.VerNorm {
		m.VerNorm[i] = 1
	}
	return m, nil
}

func fillNaN(x []float32) {
	n := float32(math.NaN())
	for i := range x {
		x[i] = n
	}
}

func isNorm(name string) bool {
	for _, s := range []string{"norm.weight", "layernorm.weight"} {
		if len(name) >= len(s) && name[len(name)-len(s):] == s {
			return true
		}
	}
	return false
}

// shapeFrom reads and checks the sizes of the draft from its config.
func shapeFrom(cfg *config.Speculator) (*Model, error) {
	e := cfg.Eagle3
	if e == nil || cfg.SpeculatorsModelType != "eagle3" {
		return nil, fmt.Errorf("eagle3: config is %q, not eagle3", cfg.SpeculatorsModelType)
	}
	l := &cfg.TransformerLayerConfig
	m := &Model{Cfg: cfg, H: l.HiddenSize, A: cfg.NumAux(), V: l.VocabSize, Vd: e.DraftVocabSize,
		NH: l.NumAttentionHeads, KVH: l.KVHeads(), HD: l.HeadDimension(), I: l.IntermediateSize, L: l.NumHiddenLayers,
		Arch: l.EffectiveModelType(), NormBeforeFC: e.NormBeforeFC, FCNorm: e.FCNorm, NormOutput: e.NormOutput,
		NormBeforeResidual: e.NormBeforeResidual, EmbedRequiresGrad: e.EmbedRequiresGrad,
		AttentionBias: l.AttentionBias, MLPBias: l.MLPBias}
	for name, v := range map[string]int{"hidden_size": m.H, "vocab_size": m.V, "draft_vocab_size": m.Vd,
		"num_attention_heads": m.NH, "num_key_value_heads": m.KVH, "head_dim": m.HD, "intermediate_size": m.I,
		"num_hidden_layers": m.L, "aux layers": m.A} {
		if v <= 0 || v > MaxDim {
			return nil, fmt.Errorf("eagle3: %s = %d out of range", name, v)
		}
	}
	if m.L > 64 || m.A > 64 {
		return nil, fmt.Errorf("eagle3: %d layers and %d aux states is more than supported (64)", m.L, m.A)
	}
	// Bound the total size (float32 values of weights) so a hostile config
	// gets an error instead of an out-of-memory crash.
	per := int64(m.H)*int64(2*m.H)*3 + int64(m.H)*int64(m.NH*m.HD) + 3*int64(m.H)*int64(m.I)
	total := int64(m.V)*int64(m.H) + 2*int64(m.Vd)*int64(m.H) + int64(m.A)*int64(m.H)*int64(m.H) + int64(m.L)*per
	if total > MaxParams {
		return nil, fmt.Errorf("eagle3: config asks for about %d parameters, more than the %d supported", total, int64(MaxParams))
	}
	if m.Vd > m.V {
		return nil, fmt.Errorf("eagle3: draft_vocab_size %d > vocab_size %d", m.Vd, m.V)
	}
	if m.NH%m.KVH != 0 {
		return nil, fmt.Errorf("eagle3: %d heads not divisible by %d kv heads", m.NH, m.KVH)
	}
	if th := e.TargetHiddenSize; th != nil && *th != m.H {
		return nil, fmt.Errorf("eagle3: target_hidden_size %d differs from hidden_size %d (unsupported for training)", *th, m.H)
	}
	if m.NormBeforeFC && m.FCNorm {
		return nil, fmt.Errorf("eagle3: norm_before_fc and fc_norm are mutually exclusive")
	}
	if m.Arch != "llama" && m.Arch != "qwen3" {
		return nil, fmt.Errorf("eagle3: transformer_layer_config.model_type %q unsupported (want llama or qwen3)", m.Arch)
	}
	if act := l.HiddenAct; act != "" && act != "silu" {
		return nil, fmt.Errorf("eagle3: hidden_act %q unsupported (want silu)", act)
	}
	if l.RMSNormEps == "" {
		m.Eps = 1e-6
	} else {
		f, err := l.RMSNormEps.Float64()
		if err != nil || !(f > 0) {
			return nil, fmt.Errorf("eagle3: bad rms_norm_eps %q", l.RMSNormEps)
		}
		m.Eps = float32(f)
	}
	rc, err := ropeConfig(l, m.HD)
	if err != nil {
		return nil, fmt.Errorf("eagle3: %w", err)
	}
	if m.invFreq, m.ropeScale, err = tensor.RoPEInvFreq(rc); err != nil {
		return nil, fmt.Errorf("eagle3: %w", err)
	}
	return m, nil
}

// ropeConfig maps rope_theta/rope_scaling (or transformers 5
// rope_parameters) to the kernel's config. partial_rotary_factor is dropped
// as speculators does for non-MRoPE drafts (training-spec §5.1).
func ropeConfig(l *config.LayerConfig, hd int) (tensor.RoPEConfig, error) {
	rc := tensor.RoPEConfig{Theta: 10000, HeadDim: hd, MaxPositionEmbeddings: l.MaxPositionEmbeddings}
	if l.RopeTheta != "" {
		f, err := l.RopeTheta.Float64()
		if err != nil {
			return rc, fmt.Errorf("bad rope_theta %q", l.RopeTheta)
		}
		rc.Theta = f
	}
	scaling := l.RopeScaling
	if rp, ok := l.RopeParameters.(map[string]any); ok {
		if th, ok := rp["rope_theta"]; ok {
			if f, err := strconv.ParseFloat(fmt.Sprint(th), 64); err == nil {
				rc.Theta = f
			}
		}
		if rt, _ := rp["rope_type"].(string); rt != "" && rt != "default" {
			scaling = rp
		}
	}
	if scaling != nil {
		b, err := json.Marshal(scaling)
		if err != nil {
			return rc, err
		}
		var s tensor.RoPEScaling
		if err := json.Unmarshal(b, &s); err != nil {
			return rc, fmt.Errorf("bad rope_scaling: %v", err)
		}
		if s.RopeType != "" || s.Type != "" {
			rc.Scaling = &s
		}
	}
	return rc, nil
}

// alloc creates every tensor with the shapes of format-spec §4.1, in
// state-dict order.
func (m *Model) alloc() {
	H, A := m.H, m.A
	Hq, Hkv := m.NH*m.HD, m.KVH*m.HD
	add := func(name string, rows, cols int, train bool) *tensor.Param {
		p := &tensor.Param{Name: name, W: make([]float32, rows*cols), Decay: true}
		if rows > 1 {
			p.Rows = rows
		}
		m.params = append(m.params, p)
		if train {
			p.G = make([]float32, rows*cols)
			m.trainParams = append(m.trainParams, p)
		}
		return p
	}
	// Python's named_parameters order: embed_tokens, fc, layers (self_attn,
	// mlp, input_layernorm, post_attention_layernorm, hidden_norm), norm,
	// input_norm, fc_norm.
	m.Embed = add("embed_tokens.weight", m.V, H, m.EmbedRequiresGrad)
	m.FC = add("fc.weight", H, A*H, true)
	for li := 0; li < m.L; li++ {
		p := fmt.Sprintf("layers.%d.", li)
		in := H
		if li == 0 {
			in = 2 * H
		}
		ly := &Layer{In: in, Window: m.layerWindow(li)}
		lin := func(name string, rows, cols int, bias bool) (w, b *tensor.Param) {
			w = add(p+name+".weight", rows, cols, true)
			if bias {
				b = add(p+name+".bias", 1, rows, true)
			}
			return w, b
		}
		ly.Q, ly.QB = lin("self_attn.q_proj", Hq, in, m.AttentionBias)
		ly.K, ly.KB = lin("self_attn.k_proj", Hkv, in, m.AttentionBias)
		ly.V, ly.VB = lin("self_attn.v_proj", Hkv, in, m.AttentionBias)
		ly.O, ly.OB = lin("self_attn.o_proj", H, Hq, m.AttentionBias)
		if m.Arch == "qwen3" {
			ly.QNorm = add(p+"self_attn.q_norm.weight", 1, m.HD, true)
			ly.KNorm = add(p+"self_attn.k_norm.weight", 1, m.HD, true)
		}
		mb := m.MLPBias && m.Arch == "llama"
		ly.Gate, ly.GateB = lin("mlp.gate_proj", m.I, H, mb)
		ly.Up, ly.UpB = lin("mlp.up_proj", m.I, H, mb)
		ly.Down, ly.DownB = lin("mlp.down_proj", H, m.I, mb)
		ly.InputLN = add(p+"input_layernorm.weight", 1, H, true)
		ly.PostLN = add(p+"post_attention_layernorm.weight", 1, H, true)
		if li == 0 {
			ly.HiddenNorm = add(p+"hidden_norm.weight", 1, H, true)
		}
		m.Layers = append(m.Layers, ly)
	}
	m.Norm = add("norm.weight", 1, H, true)
	if m.NormBeforeFC {
		m.InputNorm = add("input_norm.weight", 1, A*H, true)
	}
	if m.FCNorm {
		for i := 0; i < A; i++ {
			m.FCNorms = append(m.FCNorms, add(fmt.Sprintf("fc_norm.%d.weight", i), 1, H, true))
		}
	}
	m.LMHead = make([]float32, m.Vd*H)
	m.VerLMHead = make([]float32, m.Vd*H)
	m.VerNorm = make([]float32, H)
	if m.Vd == m.V {
		m.D2T, m.T2D = nil, nil
	}
}

// layerWindow is the sliding window of layer i: layer_types[i] ==
// "sliding_attention" with sliding_window set (speculators builds the mask
// from these two keys only); 0 means full causal attention.
func (m *Model) layerWindow(i int) int {
	l := &m.Cfg.TransformerLayerConfig
	if l.SlidingWindow == nil || *l.SlidingWindow <= 0 || i >= len(l.LayerTypes) {
		return 0
	}
	if l.LayerTypes[i] == "sliding_attention" {
		return *l.SlidingWindow
	}
	return 0
}

// Params returns the trainable parameters in state-dict order, each with
// its gradient buffer; Decay is set on all of them (speculators applies
// weight decay to every trainable tensor) and Rows on 2-D weights.
func (m *Model) Params() []*tensor.Param { return m.trainParams }

// AllParams returns every saved float tensor, trainable or not, in
// state-dict order (embed_tokens included; lm_head is separate).
func (m *Model) AllParams() []*tensor.Param { return m.params }

// MuonEligible reports whether p goes to Muon in speculators' optimizer
// split: 2-D with both dimensions > 1 and not an embedding or lm_head.
func MuonEligible(p *tensor.Param) bool {
	if p.Rows <= 1 || len(p.W)/p.Rows <= 1 {
		return false
	}
	return !contains(p.Name, "embed_tokens") && !contains(p.Name, "lm_head")
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// ZeroGrad clears every gradient.
func (m *Model) ZeroGrad() {
	for _, p := range m.trainParams {
		clear(p.G)
	}
}

// Grads returns the gradient slices (for tensor.ClipGradNorm).
func (m *Model) Grads() [][]float32 {
	g := make([][]float32, len(m.trainParams))
	for i, p := range m.trainParams {
		g[i] = p.G
	}
	return g
}

// SetVocab installs the draft↔target mapping (format-spec §4.6): d2t
// offsets (Vd) and the membership mask t2d (V) with exactly Vd true
// entries. Ignored when Vd = V, as in Python.
func (m *Model) SetVocab(d2t []int64, t2d []bool) error {
	if m.Vd == m.V {
		return nil
	}
	if len(d2t) != m.Vd || len(t2d) != m.V {
		return fmt.Errorf("eagle3: d2t has %d entries (want %d), t2d %d (want %d)", len(d2t), m.Vd, len(t2d), m.V)
	}
	j := 0
	for t, in := range t2d {
		if !in {
			continue
		}
		if j >= m.Vd || int64(j)+d2t[j] != int64(t) {
			return fmt.Errorf("eagle3: d2t and t2d disagree at draft id %d (target %d)", j, t)
		}
		j++
	}
	if j != m.Vd {
		return fmt.Errorf("eagle3: t2d has %d true entries, want %d", j, m.Vd)
	}
	m.D2T = append([]int64(nil), d2t...)
	m.T2D = append([]bool(nil), t2d...)
	return nil
}

// DraftToTarget maps a draft token id to the verifier's id.
func (m *Model) DraftToTarget(d int) int {
	if m.D2T == nil {
		return d
	}
	return d + int(m.D2T[d])
}

// SetVerifierWeights copies the frozen tensors from the verifier: the
// embedding (V, H), the LM head (V, H; nil means the embedding, as for tied
// verifiers) restricted to the t2d rows, and the final norm (H; nil leaves
// ones, as Python warns). lm_head is overwritten only while it holds NaN
// (fresh), so a loaded checkpoint keeps its own lm_head, as in Python.
func (m *Model) SetVerifierWeights(embed, lmHead, norm []float32) error {
	H := m.H
	if len(embed) != m.V*H {
		return fmt.Errorf("eagle3: verifier embedding has %d values, want %d×%d", len(embed), m.V, H)
	}
	if lmHead == nil {
		lmHead = embed
	}
	if len(lmHead) != m.V*H {
		return fmt.Errorf("eagle3: verifier lm_head has %d values, want %d×%d", len(lmHead), m.V, H)
	}
	if norm != nil && len(norm) != H {
		return fmt.Errorf("eagle3: verifier norm has %d values, want %d", len(norm), H)
	}
	if m.Vd != m.V && m.T2D == nil {
		return fmt.Errorf("eagle3: the vocabulary mapping must be set (SetVocab) before the verifier weights")
	}
	if hasNaN(m.Embed.W) {
		copy(m.Embed.W, embed)
	}
	j := 0
	fresh := hasNaN(m.LMHead)
	for t := 0; t < m.V; t++ {
		if m.T2D != nil && !m.T2D[t] {
			continue
		}
		row := lmHead[t*H : (t+1)*H]
		copy(m.VerLMHead[j*H:(j+1)*H], row)
		if fresh {
			copy(m.LMHead[j*H:(j+1)*H], row)
		}
		j++
	}
	if norm != nil {
		copy(m.VerNorm, norm)
	}
	return nil
}

func hasNaN(x []float32) bool {
	for _, v := range x {
		if v != v {
			return true
		}
	}
	return false
}
