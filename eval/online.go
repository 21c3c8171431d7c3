// Package eval measures drafts: acceptance and speedup of speculative
// decoding with the embedded verifier (online), teacher-forced acceptance
// from stored hidden states (offline), and a benchmark client for a running
// vLLM server. Reports are JSON-ready structs; Plot draws per-position
// acceptance as a PNG.
package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/spec"
)

// Draft is a loaded speculator: an EAGLE-3 checkpoint or a plain HF LM.
type Draft struct {
	Kind   string // "eagle3" or "lm"
	Eagle3 *eagle3.Model
	LM     *llama.Model
}

// LoadDraft reads a speculator directory for verifier v (loaded from
// verifierDir). A config.json with speculators_model_type "eagle3" is an
// EAGLE-3 draft (its frozen embedding and LM head come from the verifier
// when absent); any other is loaded as a plain causal LM, which must share
// the verifier's tokenizer.
func LoadDraft(dir, verifierDir string, v *llama.Model) (*Draft, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("eval: speculator: %w", err)
	}
	var head struct {
		Type string `json:"speculators_model_type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("eval: speculator %s: config.json: %w", dir, err)
	}
	switch head.Type {
	case "eagle3":
		m, err := eagle3.Load(dir)
		if err != nil {
			return nil, err
		}
		if m.V != v.V() || m.H != v.H() {
			return nil, fmt.Errorf("eval: speculator %s is for vocabulary %d and hidden size %d, verifier %s has %d and %d", dir, m.V, m.H, verifierDir, v.V(), v.H())
		}
		if err := m.LoadVerifierWeights(verifierDir); err != nil {
			return nil, err
		}
		return &Draft{Kind: "eagle3", Eagle3: m}, nil
	case "":
		if err := spec.SameTokenizer(verifierDir, dir); err != nil {
			return nil, err
		}
		m, err := llama.Load(dir)
		if err != nil {
			return nil, err
		}
		return &Draft{Kind: "lm", LM: m}, nil
	default:
		return nil, fmt.Errorf("eval: speculator %s: algorithm %q is not supported for online evaluation (eagle3, or a plain LM directory)", dir, head.Type)
	}
}

// Drafter returns a fresh spec.Drafter for sequences of up to maxLen tokens.
func (d *Draft) Drafter(v *llama.Model, maxLen int) (spec.Drafter, error) {
	if d.Kind == "eagle3" {
		return spec.NewEagle3(d.Eagle3, v.N(), maxLen)
	}
	return spec.NewLM(d.LM, v.V()), nil
}

// OnlineOptions control Online.
type OnlineOptions struct {
	K         int
	MaxTokens int
	Params    sample.Params
	EOS       []int
	Baseline  bool      // also run plain decoding for tokens/s and speedup
	Log       io.Writer // progress lines; nil for none
}

// OnlineReport is eval.json of an online evaluation.
type OnlineReport struct {
	Verifier            string    `json:"verifier"`
	Speculator          string    `json:"speculator"`
	DraftKind           string    `json:"draft_kind"`
	K                   int       `json:"num_speculative_tokens"`
	Temperature         float64   `json:"temperature"`
	Prompts             int       `json:"prompts"`
	PromptTokens        int       `json:"prompt_tokens"`
	NewTokens           int       `json:"new_tokens"`
	Drafts              int       `json:"num_drafts"`
	DraftTokens         int       `json:"num_draft_tokens"`
	Accepted            int       `json:"num_accepted_tokens"`
	AcceptedPerPos      []int     `json:"num_accepted_tokens_per_pos"`
	Tau                 float64   `json:"mean_acceptance_length"`
	PerPosition         []float64 `json:"acceptance_per_position"`
	AcceptanceRate      float64   `json:"mean_acceptance_rate"`
	SpecTokensPerSecond float64   `json:"tokens_per_second_speculative"`
	BaseTokensPerSecond float64   `json:"tokens_per_second_baseline,omitempty"`
	Speedup             float64   `json:"speedup,omitempty"`
	SpecSeconds         float64   `json:"seconds_speculative"`
	BaseSeconds         float64   `json:"seconds_baseline,omitempty"`
	DraftSeconds        float64   `json:"seconds_drafting"`
	VerifySeconds       float64   `json:"seconds_verifying"`
	Mismatches          int       `json:"greedy_mismatches,omitempty"` // T = 0: outputs differing from plain greedy (must be 0)
}

// Online runs every prompt with speculation and, with Baseline, without,
// and gathers the acceptance counters and throughputs. At temperature 0 the
// two outputs are compared token for token.
func Online(v *llama.Model, d spec.Drafter, prompts [][]int32, o OnlineOptions) (*OnlineReport, error) {
	if len(prompts) == 0 {
		return nil, errors.New("eval: no prompts")
	}
	eng, err := spec.New(v.NewState(1), d)
	if err != nil {
		return nil, err
	}
	base := v.NewState(1)
	var total spec.Stats
	var baseTime time.Duration
	r := &OnlineReport{K: o.K, Temperature: o.Params.Temperature, Prompts: len(prompts)}
	for i, p := range prompts {
		got, st, err := eng.Generate(p, spec.Options{K: o.K, MaxTokens: o.MaxTokens, Params: o.Params, EOS: o.EOS})
		if err != nil {
			return nil, fmt.Errorf("eval: prompt %d: %w", i, err)
		}
		total.Add(st)
		if o.Baseline {
			smp, err := sample.New(o.Params)
			if err != nil {
				return nil, err
			}
			base.Reset()
			want, bs, err := llama.Generate(base, p, llama.GenerateOptions{MaxTokens: o.MaxTokens, Sampler: smp, EOS: o.EOS})
			if err != nil {
				return nil, fmt.Errorf("eval: prompt %d: %w", i, err)
			}
			baseTime += bs.Prefill + bs.Decode
			r.BaseTokensPerSecond += float64(len(want)) // summed; divided below
			if o.Params.Greedy() && !slices.Equal(got, want) {
				r.Mismatches++
			}
		}
		if o.Log != nil && ((i+1)%10 == 0 || i+1 == len(prompts)) {
			fmt.Fprintf(o.Log, "eval: %d/%d prompts, τ %.3f, %d new tokens\n", i+1, len(prompts), total.Tau(), total.NewTokens)
		}
	}
	r.PromptTokens, r.NewTokens = total.PromptTokens, total.NewTokens
	r.Drafts, r.DraftTokens, r.Accepted = total.Drafts, total.DraftTokens, total.Accepted
	r.AcceptedPerPos = total.AcceptedAt
	r.Tau, r.PerPosition, r.AcceptanceRate = total.Tau(), total.PerPosition(), total.AcceptanceRate()
	r.SpecSeconds = (total.Prefill + total.Decode).Seconds()
	r.SpecTokensPerSecond = total.TokensPerSecond()
	r.DraftSeconds, r.VerifySeconds = total.DraftTime.Seconds(), total.Verify.Seconds()
	if o.Baseline {
		r.BaseSeconds = baseTime.Seconds()
		if r.BaseSeconds > 0 {
			r.BaseTokensPerSecond /= r.BaseSeconds
		}
		if r.BaseTokensPerSecond > 0 {
			r.Speedup = r.SpecTokensPerSecond / r.BaseTokensPerSecond
		}
	}
	return r, nil
}
