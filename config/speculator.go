package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Algorithms this package reads, in the order of format-spec §3.
var Algorithms = []string{"eagle3", "peagle", "dflash", "dspark", "mtp"}

// MaxFileSize bounds how much of a config.json is read; real ones are a few KB.
const MaxFileSize = 16 << 20

// Speculator is the whole config.json of a speculators checkpoint. Exactly one
// of the algorithm blocks (Eagle3, PEagle, DFlash, DSpark, MTP) is set, the
// one named by SpeculatorsModelType; its keys live at the top level of the
// file next to the common ones.
type Speculator struct {
	SpeculatorsModelType   string            `json:"speculators_model_type"`
	SpeculatorsVersion     string            `json:"speculators_version"`
	SpeculatorsConfig      SpeculatorsConfig `json:"speculators_config"`
	TransformerLayerConfig LayerConfig       `json:"transformer_layer_config"`
	Architectures          []string          `json:"architectures"`
	AutoMap                map[string]string `json:"auto_map"`
	DType                  string            `json:"dtype"`       // transformers >= 4.56
	TorchDType             string            `json:"torch_dtype"` // transformers < 4.56
	TieWordEmbeddings      *bool             `json:"tie_word_embeddings"`
	TransformersVersion    string            `json:"transformers_version"`

	Eagle3 *Eagle3 `json:"-"`
	PEagle *PEagle `json:"-"`
	DFlash *DFlash `json:"-"`
	DSpark *DSpark `json:"-"`
	MTP    *MTP    `json:"-"`

	Object
}

// Eagle3 holds the eagle3 keys (format-spec §3.1).
type Eagle3 struct {
	DraftVocabSize int `json:"draft_vocab_size"`
	// NormBeforeResidual defaults to false in speculators but vLLM assumes
	// true when the key is absent, so writers always write it.
	NormBeforeResidual bool `json:"norm_before_residual"`
	TargetHiddenSize   *int `json:"target_hidden_size"`
	// EagleAuxHiddenStateLayerIDs: nil means null, the default [2, N/2, N-3].
	EagleAuxHiddenStateLayerIDs []int `json:"eagle_aux_hidden_state_layer_ids"`
	NormBeforeFC                bool  `json:"norm_before_fc"`
	FCNorm                      bool  `json:"fc_norm"`
	NormOutput                  bool  `json:"norm_output"`
	EmbedRequiresGrad           bool  `json:"embed_requires_grad"`
}

// PEagle is eagle3 plus the mask token (format-spec §3.2).
type PEagle struct {
	Eagle3
	MaskTokenID *int `json:"mask_token_id"`
}

// DFlash holds the dflash keys (format-spec §3.3).
type DFlash struct {
	DraftVocabSize         int   `json:"draft_vocab_size"`
	BlockSize              int   `json:"block_size"`
	TargetHiddenSize       *int  `json:"target_hidden_size"`
	AuxHiddenStateLayerIDs []int `json:"aux_hidden_state_layer_ids"`
	MaskTokenID            *int  `json:"mask_token_id"`
	SlidingWindowNonCausal bool  `json:"sliding_window_non_causal"`
	SampleFromAnchor       bool  `json:"sample_from_anchor"`
}

// DSpark is dflash plus the Markov and confidence heads (format-spec §3.4).
type DSpark struct {
	DFlash
	MarkovRank               int    `json:"markov_rank"`
	MarkovHeadType           string `json:"markov_head_type"` // vanilla, gated or rnn
	EnableConfidenceHead     bool   `json:"enable_confidence_head"`
	ConfidenceHeadWithMarkov bool   `json:"confidence_head_with_markov"`
}

// MTP holds the mtp keys (format-spec §3.5).
type MTP struct {
	NumNextnPredictLayers int `json:"num_nextn_predict_layers"`
}

func (e *Eagle3) setDefaults() { *e = Eagle3{DraftVocabSize: 32000} }
func (p *PEagle) setDefaults() {
	p.Eagle3.setDefaults()
	p.EmbedRequiresGrad = true
}
func (d *DFlash) setDefaults() { *d = DFlash{DraftVocabSize: 32000, BlockSize: 8} }
func (d *DSpark) setDefaults() {
	d.DFlash.setDefaults()
	d.SampleFromAnchor = true
	d.MarkovRank = 256
	d.MarkovHeadType = "vanilla"
	d.EnableConfidenceHead = true
	d.ConfidenceHeadWithMarkov = true
}
func (m *MTP) setDefaults() { *m = MTP{NumNextnPredictLayers: 1} }

// SpeculatorsConfig is the speculators_config block (format-spec §2.2).
type SpeculatorsConfig struct {
	Algorithm             string     `json:"algorithm"`
	ProposalMethods       []Proposal `json:"proposal_methods"`
	DefaultProposalMethod string     `json:"default_proposal_method"`
	Verifier              Verifier   `json:"verifier"`
	Object
}

// Proposal is a proposal method; only greedy exists (format-spec §2.3).
type Proposal struct {
	ProposalType string `json:"proposal_type"`
	// SpeculativeTokens is what vLLM uses as num_speculative_tokens.
	SpeculativeTokens int         `json:"speculative_tokens"`
	VerifierAcceptK   int         `json:"verifier_accept_k"`
	AcceptTolerance   json.Number `json:"accept_tolerance"`
	Object
}

func (p *Proposal) setDefaults() {
	*p = Proposal{ProposalType: "greedy", SpeculativeTokens: 5, VerifierAcceptK: 1, AcceptTolerance: "0.0"}
}

// Verifier names the model the draft was trained against; vLLM serves
// NameOrPath as the target model.
type Verifier struct {
	NameOrPath    *string  `json:"name_or_path"`
	Architectures []string `json:"architectures"`
	Object
}

// ConfigClass is the Python config class of each algorithm (auto_map, §1.3).
var ConfigClass = map[string]string{
	"eagle3": "Eagle3SpeculatorConfig",
	"peagle": "PEagleSpeculatorConfig",
	"dflash": "DFlashSpeculatorConfig",
	"dspark": "DSparkSpeculatorConfig",
	"mtp":    "MTPSpeculatorConfig",
}

// ModelClass is the architectures entry a model save writes (§1.2).
var ModelClass = map[string]string{
	"eagle3": "Eagle3DraftModel",
	"peagle": "PEagleDraftModel",
	"dflash": "DFlashDraftModel",
	"dspark": "DSparkDraftModel",
	"mtp":    "MTPDraftModel",
}

// New returns the config the Python library builds for algorithm with its
// defaults, with every key Python writes marked to be written: architectures
// and auto_map as a model save writes them, tie_word_embeddings false, one
// greedy proposal. The caller fills in the verifier, the layer config, the
// dtype, the version strings and the algorithm fields.
func New(algorithm string) (*Speculator, error) {
	if _, ok := ConfigClass[algorithm]; !ok {
		return nil, fmt.Errorf("config: unknown algorithm %q (want one of %s)", algorithm, strings.Join(Algorithms, ", "))
	}
	f := false
	c := &Speculator{
		SpeculatorsModelType: algorithm,
		Architectures:        []string{ModelClass[algorithm]},
		AutoMap:              map[string]string{"": "config." + ConfigClass[algorithm]},
		TieWordEmbeddings:    &f,
	}
	c.SpeculatorsConfig = SpeculatorsConfig{Algorithm: algorithm, DefaultProposalMethod: "greedy"}
	var p Proposal
	p.setDefaults()
	p.Keep("proposal_type", "speculative_tokens", "verifier_accept_k", "accept_tolerance")
	c.SpeculatorsConfig.ProposalMethods = []Proposal{p}
	c.SpeculatorsConfig.Verifier.Keep("name_or_path", "architectures")
	c.SpeculatorsConfig.Verifier.Architectures = []string{}
	c.SpeculatorsConfig.Keep("algorithm", "proposal_methods", "default_proposal_method", "verifier")
	c.Keep("speculators_model_type", "speculators_version", "speculators_config", "transformer_layer_config",
		"architectures", "auto_map", "tie_word_embeddings", "transformers_version")
	block := c.newBlock()
	if d, ok := block.(interface{ setDefaults() }); ok {
		d.setDefaults()
	}
	for _, f := range fieldsOf(reflectType(block)) {
		c.Keep(f.key)
	}
	return c, nil
}

// newBlock allocates the algorithm block named by SpeculatorsModelType.
func (c *Speculator) newBlock() any {
	c.Eagle3, c.PEagle, c.DFlash, c.DSpark, c.MTP = nil, nil, nil, nil, nil
	switch c.SpeculatorsModelType {
	case "eagle3":
		c.Eagle3 = &Eagle3{}
		return c.Eagle3
	case "peagle":
		c.PEagle = &PEagle{}
		return c.PEagle
	case "dflash":
		c.DFlash = &DFlash{}
		return c.DFlash
	case "dspark":
		c.DSpark = &DSpark{}
		return c.DSpark
	case "mtp":
		c.MTP = &MTP{}
		return c.MTP
	}
	return nil
}

// block returns the algorithm block that is set, or nil.
func (c *Speculator) block() any {
	switch {
	case c.Eagle3 != nil:
		return c.Eagle3
	case c.PEagle != nil:
		return c.PEagle
	case c.DFlash != nil:
		return c.DFlash
	case c.DSpark != nil:
		return c.DSpark
	case c.MTP != nil:
		return c.MTP
	}
	return nil
}

// EagleFields returns the eagle3 keys of an eagle3 or peagle config.
func (c *Speculator) EagleFields() *Eagle3 {
	if c.Eagle3 != nil {
		return c.Eagle3
	}
	if c.PEagle != nil {
		return &c.PEagle.Eagle3
	}
	return nil
}

// DFlashFields returns the dflash keys of a dflash or dspark config.
func (c *Speculator) DFlashFields() *DFlash {
	if c.DFlash != nil {
		return c.DFlash
	}
	if c.DSpark != nil {
		return &c.DSpark.DFlash
	}
	return nil
}

// AuxLayerIDs returns the verifier layer ids whose hidden states the draft
// reads (eagle_aux_hidden_state_layer_ids or aux_hidden_state_layer_ids);
// nil when null or absent, or for mtp.
func (c *Speculator) AuxLayerIDs() []int {
	if e := c.EagleFields(); e != nil {
		return e.EagleAuxHiddenStateLayerIDs
	}
	if d := c.DFlashFields(); d != nil {
		return d.AuxHiddenStateLayerIDs
	}
	return nil
}

// NumAux is the number of aux hidden states: len(AuxLayerIDs), or 3 when the
// ids are null (the default [2, N/2, N-3]).
func (c *Speculator) NumAux() int {
	if ids := c.AuxLayerIDs(); ids != nil {
		return len(ids)
	}
	return 3
}

// DraftVocabSize is the number of rows of lm_head: draft_vocab_size, or the
// verifier vocabulary for mtp (which has no reduction).
func (c *Speculator) DraftVocabSize() int {
	if e := c.EagleFields(); e != nil {
		return e.DraftVocabSize
	}
	if d := c.DFlashFields(); d != nil {
		return d.DraftVocabSize
	}
	return c.TransformerLayerConfig.VocabSize
}

// SpeculativeTokens is proposal_methods[0].speculative_tokens, which vLLM
// uses as num_speculative_tokens; 0 when there is no proposal.
func (c *Speculator) SpeculativeTokens() int {
	if len(c.SpeculatorsConfig.ProposalMethods) == 0 {
		return 0
	}
	return c.SpeculatorsConfig.ProposalMethods[0].SpeculativeTokens
}

// FloatDType is the dtype key's value (dtype, else torch_dtype).
func (c *Speculator) FloatDType() string {
	if c.DType != "" {
		return c.DType
	}
	return c.TorchDType
}

// DefaultAuxLayerIDs is the default [2, N/2, N-3] that speculators and vLLM
// use for an N-layer verifier when the ids are null (format-spec §6.4).
func DefaultAuxLayerIDs(n int) []int { return []int{2, n / 2, n - 3} }

// Load reads and checks a config.json.
func Load(path string) (*Speculator, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("config: %s: %d bytes, more than the %d a config may have", path, st.Size(), MaxFileSize)
	}
	data := make([]byte, st.Size())
	if _, err := readFull(f, data); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return Parse(data, path)
}

func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := f.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Parse reads a config.json held in data; name labels errors. Every problem
// found is reported in one *Error. Absent keys take the Python defaults but
// are not written back.
func Parse(data []byte, name string) (*Speculator, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{name, []Problem{{"", fmt.Sprintf("%d bytes, more than the %d a config may have", len(data), MaxFileSize)}}}
	}
	var raw map[string]json.RawMessage
	if v, err := decodeJSON(data); err != nil {
		return nil, &Error{name, []Problem{{"", "invalid JSON: " + err.Error()}}}
	} else if _, ok := v.(map[string]any); !ok {
		return nil, &Error{name, []Problem{{"", "the top level is not a JSON object"}}}
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &Error{name, []Problem{{"", "invalid JSON: " + err.Error()}}}
	}
	var probs []Problem
	c := &Speculator{}
	mt, hasMT := raw["speculators_model_type"]
	if hasMT {
		if err := json.Unmarshal(mt, &c.SpeculatorsModelType); err != nil {
			hasMT = false
		}
	}
	var block any
	switch {
	case !hasMT:
		probs = append(probs, Problem{"speculators_model_type", "missing or not a string: not a speculators checkpoint (research checkpoints need `speculators convert`)"})
	case c.SpeculatorsModelType == "eagle":
		probs = append(probs, Problem{"speculators_model_type", `"eagle" (EAGLE-1/HASS) was removed from speculators and vLLM no longer loads it; convert the research checkpoint to eagle3 instead`})
	default:
		block = c.newBlock()
		if block == nil {
			probs = append(probs, Problem{"speculators_model_type", fmt.Sprintf("%q is not one of %s", c.SpeculatorsModelType, strings.Join(Algorithms, ", "))})
		}
	}
	// The algorithm block claims its keys first; the rest go to Speculator.
	if block != nil {
		block.(interface{ setDefaults() }).setDefaults()
		blockRaw := map[string]json.RawMessage{}
		for _, f := range fieldsOf(reflectType(block)) {
			if r, ok := raw[f.key]; ok {
				blockRaw[f.key] = r
			}
		}
		decodeBlock(blockRaw, block, &c.Object, &probs)
		for k := range blockRaw {
			delete(raw, k)
		}
	}
	decodeObject(raw, c, "", &probs)
	for _, k := range []string{"model_type"} {
		if _, ok := c.Extra[k]; ok {
			probs = append(probs, Problem{k, "a top-level model_type must not be written: vLLM then loads the file with AutoConfig and skips the speculators mapping (format-spec §6.1)"})
		}
	}
	probs = append(probs, c.check(raw)...)
	if len(probs) > 0 {
		return nil, &Error{name, probs}
	}
	return c, nil
}

// Marshal returns config.json as the Python library writes it.
func (c *Speculator) Marshal() ([]byte, error) {
	m, err := encodeObject(c)
	if err != nil {
		return nil, err
	}
	if block := c.block(); block != nil {
		bm, err := encodeBlock(block, &c.Object)
		if err != nil {
			return nil, err
		}
		for k, v := range bm {
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("config: key %q written twice", k)
			}
			m[k] = v
		}
	}
	return MarshalPython(m)
}

// Save writes c to path atomically (temp file in the same directory, fsync,
// rename), so a crash never leaves a partial config.json.
func Save(path string, c *Speculator) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// WriteFileAtomic writes data to a temporary file next to path, syncs it and
// renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("config: write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("config: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
