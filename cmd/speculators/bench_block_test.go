package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestBenchBlockJSON(t *testing.T) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"bench", "block", "--hidden", "32", "--seq", "16", "--heads", "4", "--mlp", "48", "--vocab", "64", "--steps", "2", "--warmup", "0", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var r struct {
		TokensPerS float64 `json:"tokens_per_s"`
		StepMS     float64 `json:"step_ms"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if r.TokensPerS <= 0 || r.StepMS <= 0 {
		t.Errorf("result %+v", r)
	}
	if errb.Len() == 0 {
		t.Error("no progress lines on stderr")
	}
}

func TestBenchBlockBadFlags(t *testing.T) {
	if got := run([]string{"bench", "block", "--steps", "0"}); got != 2 {
		t.Errorf("--steps 0: exit %d, want 2", got)
	}
	if got := run([]string{"bench", "block", "--hidden", "30", "--heads", "4", "--steps", "1"}); got != 2 {
		t.Errorf("bad shape: exit %d, want 2", got)
	}
}
