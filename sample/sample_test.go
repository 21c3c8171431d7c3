package sample

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestProbsMatchTransformers compares Probs with transformers' warpers
// (testdata/gen_warpers.py).
func TestProbsMatchTransformers(t *testing.T) {
	b, err := os.ReadFile("testdata/warpers.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Temperature float64   `json:"temperature"`
		TopK        int       `json:"top_k"`
		TopP        float64   `json:"top_p"`
		Logits      []float32 `json:"logits"`
		Probs       []float64 `json:"probs"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for ci, c := range cases {
		s, err := New(Params{Temperature: c.Temperature, TopK: c.TopK, TopP: c.TopP})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(c.Logits))
		s.Probs(got, c.Logits)
		for i := range got {
			if math.Abs(float64(got[i])-c.Probs[i]) > 1e-5 || (got[i] == 0) != (c.Probs[i] == 0) {
				t.Errorf("case %d (%+v): token %d prob %g, want %g", ci, s.Params(), i, got[i], c.Probs[i])
				break
			}
		}
	}
}

func TestGreedyAndArgmax(t *testing.T) {
	x := []float32{1, 5, float32(math.NaN()), 5, -2}
	if Argmax(x) != 1 {
		t.Errorf("argmax %d", Argmax(x))
	}
	s, _ := New(Params{})
	if s.Sample(x) != 1 {
		t.Error("greedy sample is not the argmax")
	}
	p := make([]float32, len(x))
	s.Probs(p, x)
	if p[1] != 1 || p[0]+p[2]+p[3]+p[4] != 0 {
		t.Errorf("greedy probs %v", p)
	}
	if Argmax(nil) != -1 {
		t.Error("argmax of empty")
	}
}

// TestSampleFrequencies: draws follow Probs (chi-square over 20000 draws).
func TestSampleFrequencies(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, 3, 1.5, -0.5}
	for _, pr := range []Params{{Temperature: 1, Seed: 1}, {Temperature: 0.8, TopK: 4, Seed: 2}, {Temperature: 1.2, TopP: 0.8, Seed: 3}} {
		s, _ := New(pr)
		p := make([]float32, len(logits))
		s.Probs(p, logits)
		const n = 20000
		counts := make([]int, len(logits))
		for i := 0; i < n; i++ {
			counts[s.Sample(logits)]++
		}
		var chi2 float64
		dof := -1
		for i, c := range counts {
			if p[i] == 0 {
				if c != 0 {
					t.Errorf("%+v: token %d drawn %d times with probability 0", pr, i, c)
				}
				continue
			}
			e := float64(p[i]) * n
			chi2 += (float64(c) - e) * (float64(c) - e) / e
			dof++
		}
		if chi2 > 30 { // p < 1e-4 for ≤ 7 degrees of freedom
			t.Errorf("%+v: chi² %g over %d dof; counts %v probs %v", pr, chi2, dof, counts, p)
		}
	}
}

func TestSeedDeterministic(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	run := func(seed uint64) []int {
		s, _ := New(Params{Temperature: 1, TopP: 0.9, TopK: 100, Seed: seed})
		var out []int
		for i := 0; i < 50; i++ {
			out = append(out, s.Sample(logits))
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	same := func(x, y []int) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed gave different tokens")
	}
	if same(a, c) {
		t.Error("different seeds gave the same 50 tokens")
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Params{{Temperature: -1}, {TopK: -1}, {TopP: 1.5}, {Temperature: math.NaN()}} {
		if _, err := New(p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestDraw(t *testing.T) {
	s, _ := New(Params{Seed: 1})
	if s.Draw([]float32{0, 0, 3, 0}) != 2 {
		t.Error("single-mass draw")
	}
	if s.Draw([]float32{0, -1, float32(math.NaN())}) != 0 {
		t.Error("no-mass draw should fall back to argmax")
	}
}

func BenchmarkSampleTopP(b *testing.B) {
	logits := make([]float32, 151936)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)*0.37)) * 8
	}
	s, _ := New(Params{Temperature: 0.7, TopP: 0.9, Seed: 1})
	b.ReportAllocs()
	for b.Loop() {
		s.Sample(logits)
	}
}
