package llama

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestStopIDs(t *testing.T) {
	withGen := t.TempDir()
	if err := os.WriteFile(filepath.Join(withGen, "generation_config.json"), []byte(`{"eos_token_id": [7, 3]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cfgEOS   []int
		dir      string
		fallback int
		want     []int
	}{
		{"config wins over fallback", []int{5}, t.TempDir(), 9, []int{5}},
		{"config and generation_config merged", []int{3}, withGen, 9, []int{3, 7}},
		{"fallback when none named", nil, t.TempDir(), 9, []int{9}},
		{"no fallback", nil, t.TempDir(), -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Model{Config: &Config{EOS: tc.cfgEOS}, Dir: tc.dir}
			got, err := m.StopIDs(tc.fallback)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("StopIDs(%d) = %v, want %v", tc.fallback, got, tc.want)
			}
		})
	}
}
