package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/tensor/openblas"
)

func runBenchCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestBenchGemmJSON(t *testing.T) {
	out, err := runBenchCmd(t, "bench", "gemm", "--size", "33,64", "--impl", "go,gonum", "--runs", "2", "--min-time", "1ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2*2*2 {
		t.Fatalf("got %d lines, want 8:\n%s", len(lines), out)
	}
	seen := map[string]int{}
	for _, l := range lines {
		var raw map[string]any
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		for _, f := range []string{"impl", "m", "n", "k", "gflops"} {
			if _, ok := raw[f]; !ok {
				t.Fatalf("line %q lacks %q", l, f)
			}
		}
		if g, _ := raw["gflops"].(float64); g <= 0 {
			t.Errorf("line %q: non-positive gflops", l)
		}
		impl, _ := raw["impl"].(string)
		seen[impl]++
	}
	if seen["go"] != 4 || seen["gonum"] != 4 {
		t.Errorf("measurements per impl = %v", seen)
	}
}

func TestBenchGemmTable(t *testing.T) {
	out, err := runBenchCmd(t, "bench", "gemm", "--size", "40", "--impl", "go,gonum", "--runs", "1", "--min-time", "1ms")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "go/gonum") || !strings.Contains(out, "sq40") {
		t.Errorf("table lacks the ratio column or the shape:\n%s", out)
	}
}

func TestBenchGemmBadImpl(t *testing.T) {
	if got := run([]string{"bench", "gemm", "--impl", "nosuch", "--size", "8"}); got != 2 {
		t.Errorf("unknown impl: exit %d, want 2", got)
	}
	if !openblas.Available {
		_, err := runBenchCmd(t, "bench", "gemm", "--impl", "openblas", "--size", "8")
		if err == nil || !strings.Contains(err.Error(), "-tags openblas") {
			t.Errorf("openblas without the build tag: err = %v, want one naming -tags openblas", err)
		}
	}
	if got := run([]string{"bench", "gemm", "--size", "0"}); got != 2 {
		t.Errorf("--size 0: exit %d, want 2", got)
	}
}

func TestBenchPeak(t *testing.T) {
	out, err := runBenchCmd(t, "bench", "peak", "--runs", "1", "--time", "20ms", "--json")
	if err != nil {
		if strings.Contains(err.Error(), "assembly") {
			t.Skip("no FMA loop in this build:", err)
		}
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if g, _ := p["gflops_per_core"].(float64); g <= 0 {
		t.Errorf("peak = %v", p)
	}
}
