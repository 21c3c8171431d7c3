package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

// Summary describes a checkpoint for `speculators inspect`.
type Summary struct {
	Dir                 string   `json:"dir"`
	ConfigError         string   `json:"config_error,omitempty"`
	Algorithm           string   `json:"algorithm,omitempty"`
	Architectures       []string `json:"architectures,omitempty"`
	SpeculatorsVersion  string   `json:"speculators_version,omitempty"`
	TransformersVersion string   `json:"transformers_version,omitempty"`
	ConfigDType         string   `json:"config_dtype,omitempty"`
	Verifier            *string  `json:"verifier"`
	VerifierArchs       []string `json:"verifier_architectures"`
	Draft               *Draft   `json:"draft,omitempty"`
	Vocab               int      `json:"vocab_size"`
	DraftVocab          int      `json:"draft_vocab_size"`
	// AuxLayerIDs is null when the config leaves the default [2, N/2, N-3].
	AuxLayerIDs       []int `json:"aux_layer_ids"`
	SpeculativeTokens int   `json:"speculative_tokens"`
	// VLLM is how vLLM would serve it; VLLMError says why it would not.
	VLLM      *config.VLLM `json:"vllm,omitempty"`
	VLLMError string       `json:"vllm_error,omitempty"`
	// Parameters counts float elements by tensor group; Buffers counts
	// d2t/t2d elements (not parameters).
	Parameters      map[string]int64 `json:"parameters"`
	TotalParameters int64            `json:"total_parameters"`
	Buffers         int64            `json:"buffer_elements"`
	DTypes          map[string]Usage `json:"dtypes"`
	Files           []FileSize       `json:"files"`
	BytesOnDisk     int64            `json:"bytes_on_disk"`
	Tensors         []Tensor         `json:"tensors"`
}

// Draft is the shape of the draft's decoder layers.
type Draft struct {
	LayerType        string `json:"layer_type"`
	Layers           int    `json:"layers"`
	Hidden           int    `json:"hidden_size"`
	Intermediate     int    `json:"intermediate_size"`
	Heads            int    `json:"num_attention_heads"`
	KVHeads          int    `json:"num_key_value_heads"`
	HeadDim          int    `json:"head_dim"`
	TargetHiddenSize *int   `json:"target_hidden_size,omitempty"`
}

// Usage is how many tensors and bytes one dtype has.
type Usage struct {
	Tensors int   `json:"tensors"`
	Bytes   int64 `json:"bytes"`
}

// FileSize is one file of the directory.
type FileSize struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// Tensor is one tensor's name, dtype and shape.
type Tensor struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
}

// Group is the tensor group a name belongs to in Summary.Parameters.
func Group(name string) string {
	switch {
	case name == "d2t" || name == "t2d":
		return "vocab_map"
	case strings.HasPrefix(name, "embed_tokens."):
		return "embed_tokens"
	case strings.HasPrefix(name, "lm_head."):
		return "lm_head"
	case strings.HasPrefix(name, "fc.") || strings.HasPrefix(name, "fc_norm.") || strings.HasPrefix(name, "input_norm.") ||
		strings.HasPrefix(name, "hidden_norm.") || name == "mask_hidden":
		return "fc"
	case strings.HasPrefix(name, "layers.") || strings.HasPrefix(name, "mtp_layers."):
		i := strings.IndexByte(name, '.')
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			return "layers"
		}
		return name[:i+1+j]
	case strings.HasPrefix(name, "norm."):
		return "norm"
	case strings.HasPrefix(name, "markov_head."):
		return "markov_head"
	case strings.HasPrefix(name, "confidence_head."):
		return "confidence_head"
	}
	return "other"
}

// Inspect summarizes the checkpoint in dir. A config.json that does not
// parse is reported in ConfigError; only unreadable weights are an error.
func Inspect(dir string) (*Summary, error) {
	s := &Summary{Dir: dir, Parameters: map[string]int64{}, DTypes: map[string]Usage{}}
	c, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		s.ConfigError = err.Error()
	} else {
		l := &c.TransformerLayerConfig
		s.Algorithm = c.SpeculatorsModelType
		s.Architectures = c.Architectures
		s.SpeculatorsVersion = c.SpeculatorsVersion
		s.TransformersVersion = c.TransformersVersion
		s.ConfigDType = c.FloatDType()
		s.Verifier = c.SpeculatorsConfig.Verifier.NameOrPath
		s.VerifierArchs = c.SpeculatorsConfig.Verifier.Architectures
		s.Draft = &Draft{LayerType: l.EffectiveModelType(), Layers: l.NumHiddenLayers, Hidden: l.HiddenSize,
			Intermediate: l.IntermediateSize, Heads: l.NumAttentionHeads, KVHeads: l.KVHeads(), HeadDim: l.HeadDimension()}
		if e := c.EagleFields(); e != nil {
			s.Draft.TargetHiddenSize = e.TargetHiddenSize
		} else if d := c.DFlashFields(); d != nil {
			s.Draft.TargetHiddenSize = d.TargetHiddenSize
		}
		s.Vocab = l.VocabSize
		s.DraftVocab = c.DraftVocabSize()
		s.AuxLayerIDs = c.AuxLayerIDs()
		s.SpeculativeTokens = c.SpeculativeTokens()
		if v, err := c.VLLM(); err != nil {
			s.VLLMError = err.Error()
		} else {
			s.VLLM = v
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			s.Files = append(s.Files, FileSize{e.Name(), info.Size()})
			s.BytesOnDisk += info.Size()
		}
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	defer ck.Close()
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		s.Tensors = append(s.Tensors, Tensor{n, string(info.DType), info.Shape})
		u := s.DTypes[string(info.DType)]
		u.Tensors++
		u.Bytes += info.NumBytes()
		s.DTypes[string(info.DType)] = u
		if !info.DType.IsFloat() {
			s.Buffers += info.NumElements()
			continue
		}
		s.Parameters[Group(n)] += info.NumElements()
		s.TotalParameters += info.NumElements()
	}
	return s, nil
}

// Text renders the summary for a terminal.
func (s *Summary) Text() string {
	var b strings.Builder
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "%-18s %s\n", k, fmt.Sprintf(format, args...)) }
	row("checkpoint", "%s", s.Dir)
	if s.ConfigError != "" {
		row("config", "UNREADABLE: %s", s.ConfigError)
	} else {
		row("algorithm", "%s %v", s.Algorithm, s.Architectures)
		ver := "null"
		if s.Verifier != nil {
			ver = *s.Verifier
		}
		row("verifier", "%s %v", ver, s.VerifierArchs)
		d := s.Draft
		row("draft layers", "%d × %s: hidden %d, intermediate %d, %d heads × %d (%d kv heads)", d.Layers, d.LayerType, d.Hidden, d.Intermediate, d.Heads, d.HeadDim, d.KVHeads)
		if d.TargetHiddenSize != nil {
			row("target hidden", "%d", *d.TargetHiddenSize)
		}
		red := "no reduction"
		if s.DraftVocab != s.Vocab {
			red = "reduced, d2t/t2d"
		}
		row("vocab", "%d verifier, %d draft (%s)", s.Vocab, s.DraftVocab, red)
		if s.AuxLayerIDs == nil {
			row("aux layer ids", "null (default [2, N/2, N-3] of the verifier)")
		} else {
			row("aux layer ids", "%v", s.AuxLayerIDs)
		}
		row("speculative tokens", "%d", s.SpeculativeTokens)
		if v := s.VLLM; v != nil {
			extra := ""
			if v.ParallelDrafting {
				extra = ", parallel drafting"
			}
			row("vllm", "method %s, %d speculative tokens, %s%s, target %s", v.Method, v.NumSpeculativeTokens, v.Architecture, extra, v.Model)
		} else {
			row("vllm", "not servable: %s", strings.TrimPrefix(s.VLLMError, "config: "))
		}
		row("versions", "speculators %s, transformers %s, dtype %s", s.SpeculatorsVersion, s.TransformersVersion, s.ConfigDType)
	}
	row("parameters", "%s", commas(s.TotalParameters))
	groups := sortedKeys(s.Parameters)
	slices.SortStableFunc(groups, func(a, b string) int { return int(sign(s.Parameters[b] - s.Parameters[a])) })
	for _, g := range groups {
		row("  "+g, "%s", commas(s.Parameters[g]))
	}
	if s.Buffers > 0 {
		row("  vocab_map", "%s elements (d2t/t2d buffers, not parameters)", commas(s.Buffers))
	}
	for _, d := range sortedKeys(s.DTypes) {
		u := s.DTypes[d]
		row("dtype "+d, "%d tensors, %s", u.Tensors, human(u.Bytes))
	}
	for _, f := range s.Files {
		row("file", "%s %s", f.Name, human(f.Bytes))
	}
	row("bytes on disk", "%s (%d)", human(s.BytesOnDisk), s.BytesOnDisk)
	return b.String()
}

func sign(x int64) int64 {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func human(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), "B"
	for _, x := range []string{"kB", "MB", "GB", "TB"} {
		if f < unit {
			break
		}
		f /= unit
		u = x
	}
	return fmt.Sprintf("%.1f %s", f, u)
}
