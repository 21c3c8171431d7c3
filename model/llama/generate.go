package llama

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/speculators-go/speculators/sample"
)

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxTokens int             // new tokens at most
	Sampler   *sample.Sampler // nil means greedy
	EOS       []int           // generation stops after any of these ids (it is returned)
	// OnToken, when set, is called with each new token as soon as it is
	// chosen; an error stops generation and is returned.
	OnToken func(id int32) error
}

// GenerateStats reports the work of a Generate call.
type GenerateStats struct {
	PromptTokens, NewTokens int
	Prefill, Decode         time.Duration // wall time of the prefill and of the decode steps
	Stop                    string        // "eos" or "length"
}

// PrefillTokensPerSecond and DecodeTokensPerSecond are the throughputs:
// prompt tokens over prefill time, and decoded tokens (new tokens after
// the first, which the prefill produced) over decode time.
func (s GenerateStats) PrefillTokensPerSecond() float64 {
	return float64(s.PromptTokens) / s.Prefill.Seconds()
}

func (s GenerateStats) DecodeTokensPerSecond() float64 {
	return float64(max(s.NewTokens-1, 0)) / s.Decode.Seconds()
}

// Generate runs prompt through the model in one prefill and then decodes
// one token at a time from sequence 0 of st, which must be empty.
// It returns the new tokens.
func Generate(st *State, prompt []int32, opt GenerateOptions) ([]int32, GenerateStats, error) {
	var stats GenerateStats
	if len(prompt) == 0 {
		return nil, stats, errors.New("llama: generate: empty prompt")
	}
	if st.Len(0) != 0 {
		return nil, stats, fmt.Errorf("llama: generate: sequence 0 already holds %d positions", st.Len(0))
	}
	if opt.MaxTokens <= 0 {
		return nil, stats, nil
	}
	smp := opt.Sampler
	if smp == nil {
		smp, _ = sample.New(sample.Params{})
	}
	// Room for the whole generation up front (bounded: a huge --max-tokens
	// that ends early at EOS must not allocate its cache; Forward grows it).
	st.Reserve(0, len(prompt)+min(opt.MaxTokens, 4096))
	stats.PromptTokens = len(prompt)
	t0 := time.Now()
	out, err := st.ForwardSeq(0, prompt, ForwardOptions{Logits: LogitsLast})
	if err != nil {
		return nil, stats, err
	}
	stats.Prefill = time.Since(t0)
	t1 := time.Now()
	var gen []int32
	tok := make([]int32, 1)
	stats.Stop = "length"
	for {
		id := int32(smp.Sample(out.LastLogits(0)))
		gen = append(gen, id)
		if opt.OnToken != nil {
			if err := opt.OnToken(id); err != nil {
				return gen, stats, err
			}
		}
		if slices.Contains(opt.EOS, int(id)) {
			stats.Stop = "eos"
			break
		}
		if len(gen) >= opt.MaxTokens {
			break
		}
		tok[0] = id
		if out, err = st.ForwardSeq(0, tok, ForwardOptions{Logits: LogitsLast}); err != nil {
			return gen, stats, err
		}
	}
	stats.NewTokens = len(gen)
	stats.Decode = time.Since(t1)
	return gen, stats, nil
}
