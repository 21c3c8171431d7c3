package quickstart

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// RealVerifier is the public model the bundled verifier stands in for in the
// deployment example: a Llama-architecture chat model of the kind vLLM serves.
const RealVerifier = "meta-llama/Llama-3.1-8B-Instruct"

// vllmCommands are the two ways vLLM deploys a speculators checkpoint
// (format-spec §6.1): the checkpoint alone (vLLM reads the verifier from its
// config), or the verifier with a --speculative-config naming the draft.
func vllmCommands(ckpt string, ks []int) []string {
	k := ks[len(ks)-1]
	for _, x := range ks {
		if x == 3 {
			k = 3
		}
	}
	spec, _ := json.Marshal(map[string]any{"model": ckpt, "method": "eagle3", "num_speculative_tokens": k})
	return []string{
		"vllm serve " + shellQuote(ckpt),
		"vllm serve " + RealVerifier + " --speculative-config " + shellQuote(string(spec)),
	}
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// WriteSummary prints the human summary: τ per k, per-position acceptance,
// measured speedups, where the checkpoint is and how vLLM would serve it.
func (r *Result) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "\n== speculators quickstart summary ==\n")
	fmt.Fprintf(w, "verifier:    %s\n", r.Verifier)
	fmt.Fprintf(w, "data:        %d training prompts -> %d rows, %d tokens (verifier's own responses); %d held-out prompts\n",
		r.TrainPrompts, r.Rows, r.Tokens, r.HeldOut)
	fmt.Fprintf(w, "draft vocab: %d of %d verifier tokens (covers %.1f%% of supervised tokens)\n", r.DraftVocab, r.VerifierVocab, 100*r.Coverage)
	fmt.Fprintf(w, "checkpoint:  %s\n", r.Checkpoint)
	fmt.Fprintf(w, "validate:    %d errors, %d warnings\n", r.Errors, r.Warnings)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %s\n", f)
	}
	fmt.Fprintf(w, "\nheld-out prompts, speculative vs plain decoding of the verifier (same prompts, same run):\n")
	fmt.Fprintf(w, "  %-8s %2s %7s  %-32s %10s %11s %8s\n", "decoding", "k", "τ", "acceptance per position", "spec tok/s", "plain tok/s", "speedup")
	row := func(name string, k int, tau float64, per []float64, st, bt, sp float64) {
		fmt.Fprintf(w, "  %-8s %2d %7.3f  %-32s %10.0f %11.0f %7.2f×\n", name, k, tau, rates(per), st, bt, sp)
	}
	for _, g := range r.Greedy {
		row("greedy", g.K, g.Tau, g.PerPosition, g.SpecTokensPerSecond, g.BaseTokensPerSecond, g.Speedup)
	}
	if s := r.Sampled; s != nil {
		row("T=1", s.K, s.Tau, s.PerPosition, s.SpecTokensPerSecond, s.BaseTokensPerSecond, s.Speedup)
	}
	fmt.Fprintf(w, "\nτ is the mean number of tokens per verifier pass (accepted drafts + 1); greedy outputs are checked\n")
	fmt.Fprintf(w, "token for token against plain greedy decoding.\n")
	fmt.Fprintf(w, "\ndeploy with vLLM (on a GPU): the checkpoint alone (vLLM takes the verifier from its\n")
	fmt.Fprintf(w, "speculators_config.verifier.name_or_path, here %s):\n", r.Verifier)
	if len(r.VLLM) > 0 {
		fmt.Fprintf(w, "  %s\n", r.VLLM[0])
	}
	fmt.Fprintf(w, "and the same for a draft trained this way on a real verifier, with an explicit speculative config:\n")
	for _, c := range r.VLLM[min(1, len(r.VLLM)):] {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "\nsummary.json, eval/eval.json and eval/acceptance.png are in %s\n", r.Output)
}
