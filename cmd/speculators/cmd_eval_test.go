package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/eval"
	"github.com/speculators-go/speculators/internal/testckpt"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestEvalCmdOnline: the verifier drafting for itself (same tokenizer, a
// plain LM) accepts every token: τ = k+1, and the output matches greedy.
func TestEvalCmdOnline(t *testing.T) {
	dir := tinyModelDir(t, "qwen3")
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "prompts.txt")
	rows := "the weather\n{\"prompt\": \"on the hill\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}\n"
	if err := os.WriteFile(prompts, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	if _, err := runCmd(t, "eval", "--verifier", dir, "--speculator", dir, "--prompts", prompts, "-k", "3", "--max-tokens", "10", "--output", out); err != nil {
		t.Fatal(err)
	}
	var r eval.OnlineReport
	readJSON(t, filepath.Join(out, "eval.json"), &r)
	if r.Prompts != 3 || r.DraftKind != "lm" || r.Mismatches != 0 {
		t.Errorf("report %+v", r)
	}
	if r.Drafts > 0 && r.Tau != 4 {
		t.Errorf("self-drafting τ = %v, want 4", r.Tau)
	}
	if math.Abs(r.AcceptanceRate-(r.Tau-1)/3) > 1e-12 || r.Speedup <= 0 || r.BaseTokensPerSecond <= 0 {
		t.Errorf("rate %v, speedup %v", r.AcceptanceRate, r.Speedup)
	}
	checkPNG(t, filepath.Join(out, "acceptance.png"))

	// A draft with another tokenizer is refused up front.
	other := filepath.Join(tmp, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(other, f), b, 0o644)
	}
	var tj map[string]any
	readJSON(t, filepath.Join(dir, "tokenizer.json"), &tj)
	tj["added_tokens"] = []any{}
	b, _ := json.Marshal(tj)
	os.WriteFile(filepath.Join(other, "tokenizer.json"), b, 0o644)
	if _, err := runCmd(t, "eval", "--verifier", dir, "--speculator", other, "--prompts", prompts, "--output", out); err == nil || !strings.Contains(err.Error(), "different tokenizers") {
		t.Errorf("other tokenizer: %v", err)
	}
	if _, err := runCmd(t, "eval", "--verifier", dir, "--speculator", dir); err == nil {
		t.Error("no prompts accepted")
	}
}

// TestEvalCmdEagle3AndOffline: an untrained EAGLE-3 checkpoint runs online
// (greedy output still equals plain decoding) and offline on hidden states
// extracted from the verifier.
func TestEvalCmdEagle3AndOffline(t *testing.T) {
	dir := tinyModelDir(t, "llama")
	v, err := llama.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	aux := []int{1, 2, 4}
	o := testckpt.Tiny()
	o.Hidden, o.Heads, o.KVHeads, o.HeadDim, o.Intermediate = v.H(), 4, 2, 16, 2*v.H()
	o.Vocab, o.DraftVocab, o.AuxIDs, o.DType = v.V(), 64, aux, safetensors.F32
	cfg, err := testckpt.Config(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := eagle3.New(cfg, eagle3.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	d2t, t2d := testckpt.VocabMap(v.V(), 64, 1)
	if err := m.SetVocab(d2t, t2d); err != nil {
		t.Fatal(err)
	}
	if err := m.SetVerifierWeights(v.Embed, v.LMHead, v.Norm); err != nil {
		t.Fatal(err)
	}
	draft := filepath.Join(tmp, "draft")
	if err := m.Save(draft); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(tmp, "p.txt")
	os.WriteFile(prompts, []byte("a b c\nthe weather\n"), 0o644)
	out := filepath.Join(tmp, "out")
	if _, err := runCmd(t, "eval", "--verifier", dir, "--speculator", draft, "--prompts", prompts, "-k", "4", "--max-tokens", "12", "--output", out); err != nil {
		t.Fatal(err)
	}
	var r eval.OnlineReport
	readJSON(t, filepath.Join(out, "eval.json"), &r)
	if r.DraftKind != "eagle3" || r.Mismatches != 0 || len(r.PerPosition) != 4 {
		t.Errorf("report %+v", r)
	}

	// Hidden states: (S, A+1, H) with the last layer last, as data generation writes them.
	hs := filepath.Join(tmp, "hs")
	os.MkdirAll(hs, 0o755)
	st := v.NewState(1)
	for i, n := range []int{9, 14} {
		ids := make([]int32, n)
		for j := range ids {
			ids[j] = int32((j*7 + i*3) % v.V())
		}
		st.Reset()
		fo, err := st.ForwardSeq(0, ids, llama.ForwardOptions{Capture: append(append([]int{}, aux...), v.N())})
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := safetensors.EncodeFloat32(safetensors.BF16, fo.Hidden)
		tid := make([]byte, 8*n)
		for j, id := range ids {
			tid[8*j] = byte(id)
			tid[8*j+1] = byte(id >> 8)
		}
		err = safetensors.WriteFile(filepath.Join(hs, fmt.Sprintf("hs_%d.safetensors", i)), []safetensors.Tensor{
			{Name: "hidden_states", DType: safetensors.BF16, Shape: []int64{int64(n), int64(len(aux) + 1), int64(v.H())}, Data: hb},
			{Name: "token_ids", DType: safetensors.I64, Shape: []int64{int64(n)}, Data: tid},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(hs, "hs_tmp.safetensors"), []byte("ignored"), 0o644)
	out2 := filepath.Join(tmp, "out2")
	if _, err := runCmd(t, "eval", "--offline", "--speculator", draft, "--verifier", dir, "--data-path", hs, "-k", "3", "--output", out2); err != nil {
		t.Fatal(err)
	}
	var off eval.OfflineReport
	readJSON(t, filepath.Join(out2, "eval.json"), &off)
	if off.Samples != 2 || off.Positions != 8+13 || len(off.FullAcc) != 3 {
		t.Errorf("offline %+v", off)
	}
	sum := 1.0
	for _, a := range off.FullAcc {
		sum += a
	}
	if math.Abs(sum-off.Tau) > 1e-12 {
		t.Errorf("offline τ %v, 1 + Σ full_acc %v", off.Tau, sum)
	}
	checkPNG(t, filepath.Join(out2, "acceptance.png"))
	// A payload of the wrong width is an error naming the file.
	if _, err := runCmd(t, "eval", "--offline", "--speculator", draft, "--verifier", dir, "--data-path", t.TempDir(), "--output", out2); err == nil {
		t.Error("empty data path accepted")
	}
}

func TestBenchVLLMCmd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprintln(w, "# TYPE vllm:spec_decode_num_drafts counter")
			fmt.Fprintln(w, "vllm:spec_decode_num_drafts_total 10")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}]}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "p.txt")
	os.WriteFile(prompts, []byte("x\ny\n"), 0o644)
	out, err := runCmd(t, "bench-vllm", "--endpoint", srv.URL, "--served-model", "m", "--prompts", prompts, "--concurrency", "1,2", "--max-tokens", "2", "--output", tmp)
	if err != nil {
		t.Fatal(err)
	}
	var rep eval.BenchReport
	readJSON(t, filepath.Join(tmp, "bench.json"), &rep)
	if len(rep.Results) != 2 || rep.Results[1].OutputTokens != 4 || len(rep.Results[0].MissingMetrics) != 3 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out, "concurrency") {
		t.Errorf("table: %q", out)
	}
	if _, err := runCmd(t, "bench-vllm", "--endpoint", srv.URL, "--served-model", "m", "--prompts", prompts, "--concurrency", "0"); err == nil {
		t.Error("concurrency 0 accepted")
	}
}
