package validate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/internal/testckpt"
)

// FuzzConfig runs the whole validation on a tiny checkpoint whose config.json
// is the fuzz input: hostile configs (huge or negative sizes, wrong types,
// any algorithm) must give findings, never a panic or an I/O error.
func FuzzConfig(f *testing.F) {
	for _, algo := range []string{"eagle3", "peagle", "dflash", "dspark", "mtp"} {
		dir := f.TempDir()
		if err := testckpt.Write(dir, testckpt.ForAlgorithm(algo)); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"speculators_model_type": "eagle3", "transformer_layer_config": {"hidden_size": 9223372036854775807, "num_attention_heads": 3, "num_key_value_heads": 0, "num_hidden_layers": 100000000}}`))
	f.Add([]byte(`{"speculators_model_type": "dspark", "draft_vocab_size": -5, "aux_hidden_state_layer_ids": [], "markov_rank": 1000000000000}`))
	dir := f.TempDir()
	if err := testckpt.Write(dir, testckpt.Tiny()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cfg []byte) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Dir(dir)
		if err != nil {
			t.Fatalf("Dir: %v", err)
		}
		for _, f := range r.Findings {
			if f.Key == "" || f.Msg == "" {
				t.Fatalf("finding without key or message: %+v", f)
			}
		}
	})
}
