package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/speculators-go/speculators/vocab"
)

func TestVocabCommand(t *testing.T) {
	dir := t.TempDir()
	freq := filepath.Join(dir, "token_freq.pt")
	if err := vocab.WriteTokenFreq(freq, map[int]int64{5: 10, 3: 10, 9: 4, 7: 1}); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	os.Mkdir(model, 0o755)
	os.WriteFile(filepath.Join(model, "config.json"), []byte(`{"text_config": {"vocab_size": 10}, "vocab_size": 99}`), 0o644)
	out := filepath.Join(dir, "out")
	if code := run([]string{"vocab", "--token-freq", freq, "--draft-vocab-size", "3", "--target-model-path", model, "--output-path", out}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	m, err := vocab.LoadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.D2T, []int64{3, 4, 7}) || len(m.T2D) != 10 {
		t.Errorf("d2t = %v, V = %d", m.D2T, len(m.T2D))
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"vocab", "--token-freq", freq, "--draft-vocab-size", "11", "--target-vocab-size", "10", "--output-path", out}, 1},
		{[]string{"vocab", "--token-freq", freq, "--draft-vocab-size", "3", "--output-path", out}, 2},
		{[]string{"vocab", "--token-freq", freq, "--draft-vocab-size", "3", "--target-vocab-size", "10", "--target-model-path", model, "--output-path", out}, 2},
		{[]string{"vocab", "--token-freq", filepath.Join(dir, "missing.pt"), "--draft-vocab-size", "3", "--target-vocab-size", "10", "--output-path", out}, 1},
	} {
		if got := run(tc.args); got != tc.code {
			t.Errorf("run(%v) = %d, want %d", tc.args, got, tc.code)
		}
	}
}
