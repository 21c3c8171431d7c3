package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/eval"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/tokenizer"
)

func init() { commands = append(commands, newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var (
		verifier, speculator, prompts, data, output, dataPath string
		k, maxTokens, maxSamples, maxSeqLen                   int
		offline, noBaseline                                   bool
		params                                                sample.Params
	)
	cmd := &cobra.Command{
		Use:   "eval --verifier DIR --speculator DIR (--prompts FILE | --data FILE) | eval --offline --speculator DIR --data-path DIR",
		Short: "Measure a draft's acceptance and speedup",
		Long: `Online (default): runs every prompt through speculative decoding with the
embedded verifier (CPU) and, unless --no-baseline, through plain decoding,
and reports the mean acceptance length τ (tokens per verifier pass), the
acceptance at each draft position, vLLM's mean acceptance rate (τ−1)/k,
tokens/s both ways and the speedup. At --temperature 0 the speculative
output must equal plain greedy decoding; mismatches are reported (and make
the command fail). The speculator is a speculators EAGLE-3 checkpoint or a
plain causal LM directory sharing the verifier's tokenizer.

--prompts / --data read one prompt per line: plain text, or JSON objects with
"prompt"/"text", "messages" (role/content) or "conversations" (ShareGPT);
chat rows are rendered with the verifier's chat template up to the first
user turn.

Offline (--offline): teacher-forced acceptance from stored hidden states
(hs_{i}.safetensors under --data-path, as written by data generation), the
training metrics without training: full_acc_k per position and
τ ≈ 1 + Σ full_acc_k. The verifier's LM head and norm come from --verifier
(default: the config's verifier name_or_path when it is a local directory).
The loss mask is all ones (the dataset's mask is not read).

Writes OUT/eval.json and OUT/acceptance.png (per-position acceptance).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if speculator == "" {
				return &usageError{errors.New("eval: --speculator is required")}
			}
			if k < 1 || k > 64 {
				return &usageError{errors.New("eval: --num-speculative-tokens must be in 1..64")}
			}
			if err := params.Validate(); err != nil {
				return &usageError{err}
			}
			if err := os.MkdirAll(output, 0o755); err != nil {
				return err
			}
			log := cmd.ErrOrStderr()
			var report any
			var series []eval.Series
			title := ""
			if offline {
				if dataPath == "" {
					return &usageError{errors.New("eval: --offline needs --data-path")}
				}
				m, err := eagle3.Load(speculator)
				if err != nil {
					return err
				}
				if verifier == "" {
					if p := m.Cfg.SpeculatorsConfig.Verifier.NameOrPath; p != nil {
						if st, err := os.Stat(*p); err == nil && st.IsDir() {
							verifier = *p
						}
					}
				}
				if verifier == "" {
					return &usageError{errors.New("eval: --offline needs --verifier (the config's verifier is not a local directory)")}
				}
				if err := m.LoadVerifierWeights(verifier); err != nil {
					return err
				}
				r, err := eval.Offline(m, dataPath, eval.OfflineOptions{K: k, MaxSamples: maxSamples, MaxSeqLen: maxSeqLen, Log: log})
				if err != nil {
					return err
				}
				r.Speculator = speculator
				fmt.Fprintf(log, "offline: %d samples, %d positions, loss %.4f, τ %.3f, per position %s\n",
					r.Samples, r.Positions, r.Loss, r.Tau, fmtRates(r.PerPosition))
				report, series = r, []eval.Series{{Label: "offline", Values: r.PerPosition}}
				title = fmt.Sprintf("offline acceptance k=%d tau=%.2f", r.K, r.Tau)
			} else {
				if verifier == "" || (prompts == "") == (data == "") {
					return &usageError{errors.New("eval: need --verifier and exactly one of --prompts, --data")}
				}
				src := prompts
				if src == "" {
					src = data
				}
				ps, err := eval.LoadPrompts(src, maxSamples)
				if err != nil {
					return err
				}
				tok, err := tokenizer.LoadDir(verifier)
				if err != nil {
					return err
				}
				ids, err := encodePrompts(verifier, tok, ps)
				if err != nil {
					return err
				}
				v, err := llama.Load(verifier)
				if err != nil {
					return err
				}
				eos, err := v.StopIDs(tok.EOS())
				if err != nil {
					return err
				}
				d, err := eval.LoadDraft(speculator, verifier, v)
				if err != nil {
					return err
				}
				maxLen := 0
				for _, p := range ids {
					maxLen = max(maxLen, len(p))
				}
				dr, err := d.Drafter(v, maxLen+maxTokens+k+1)
				if err != nil {
					return err
				}
				r, err := eval.Online(v, dr, ids, eval.OnlineOptions{K: k, MaxTokens: maxTokens, Params: params, EOS: eos, Baseline: !noBaseline, Log: log})
				if err != nil {
					return err
				}
				r.Verifier, r.Speculator, r.DraftKind = verifier, speculator, d.Kind
				fmt.Fprintf(log, "online: %d prompts, %d new tokens, τ %.3f, per position %s, acceptance rate %.3f\n",
					r.Prompts, r.NewTokens, r.Tau, fmtRates(r.PerPosition), r.AcceptanceRate)
				if !noBaseline {
					fmt.Fprintf(log, "tokens/s: %.1f speculative, %.1f plain, speedup %.2f×\n", r.SpecTokensPerSecond, r.BaseTokensPerSecond, r.Speedup)
				}
				report, series = r, []eval.Series{{Label: fmt.Sprintf("online t=%g", params.Temperature), Values: r.PerPosition}}
				title = fmt.Sprintf("acceptance k=%d tau=%.2f", k, r.Tau)
				if r.Mismatches > 0 {
					if err := writeEval(output, report, title, series); err != nil {
						return err
					}
					return &exitError{code: 1, err: fmt.Errorf("eval: speculative greedy output differs from plain greedy decoding on %d prompts", r.Mismatches)}
				}
			}
			if err := writeEval(output, report, title, series); err != nil {
				return err
			}
			fmt.Fprintf(log, "wrote %s and %s\n", filepath.Join(output, "eval.json"), filepath.Join(output, "acceptance.png"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&verifier, "verifier", "", "verifier model directory (Hugging Face format)")
	f.StringVar(&speculator, "speculator", "", "speculators EAGLE-3 checkpoint or plain draft LM directory")
	f.StringVar(&prompts, "prompts", "", "prompts file (text lines or JSON rows)")
	f.StringVar(&data, "data", "", "local JSON-lines dataset of conversations (messages or ShareGPT conversations)")
	f.IntVarP(&k, "num-speculative-tokens", "k", 3, "draft tokens per verifier pass")
	f.IntVar(&maxTokens, "max-tokens", 128, "new tokens per prompt")
	f.IntVar(&maxSamples, "max-samples", 0, "evaluate at most this many prompts or hidden-state files (0 = all)")
	f.StringVar(&output, "output", ".", "directory for eval.json and acceptance.png")
	f.BoolVar(&offline, "offline", false, "teacher-forced acceptance from stored hidden states")
	f.StringVar(&dataPath, "data-path", "", "directory of hs_{i}.safetensors files (--offline)")
	f.IntVar(&maxSeqLen, "max-seq-len", 4096, "truncate hidden-state samples to this many tokens (--offline)")
	f.BoolVar(&noBaseline, "no-baseline", false, "skip plain decoding (no tokens/s comparison)")
	f.Float64Var(&params.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.Float64Var(&params.TopP, "top-p", 1, "nucleus sampling mass (1 = off)")
	f.IntVar(&params.TopK, "top-k", 0, "sample among the k most likely tokens (0 = off)")
	f.Uint64Var(&params.Seed, "seed", 0, "random seed for sampling")
	return cmd
}

func fmtRates(x []float64) string {
	s := "["
	for i, v := range x {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.3f", v)
	}
	return s + "]"
}

func writeEval(dir string, report any, title string, series []eval.Series) error {
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := safetensors.WriteAtomic(filepath.Join(dir, "eval.json"), append(b, '\n')); err != nil {
		return err
	}
	return eval.WritePlot(filepath.Join(dir, "acceptance.png"), title, series)
}

// encodePrompts tokenizes text prompts with the tokenizer's special tokens
// and chat prompts through the verifier's chat template.
func encodePrompts(dir string, tok *tokenizer.Tokenizer, ps []eval.Prompt) ([][]int32, error) {
	var tmpl *chat.Template
	out := make([][]int32, len(ps))
	for i, p := range ps {
		text, special := p.Text, true
		if p.Messages != nil {
			if tmpl == nil {
				var err error
				if tmpl, err = chat.Load(dir); err != nil {
					return nil, err
				}
			}
			var err error
			if text, err = tmpl.Render(p.Messages, chat.RenderOptions{AddGenerationPrompt: true}); err != nil {
				return nil, fmt.Errorf("eval: prompt %d: %w", i, err)
			}
			special = false
		}
		ids := tok.Encode(text, special)
		if len(ids) == 0 {
			return nil, fmt.Errorf("eval: prompt %d encodes to no tokens", i)
		}
		out[i] = make([]int32, len(ids))
		for j, id := range ids {
			out[i][j] = int32(id)
		}
	}
	return out, nil
}
