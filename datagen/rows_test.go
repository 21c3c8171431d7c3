package datagen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/dataset"
)

// TestLoadRowsArrow reads prepare_data.py's layout (data-*.arrow shards,
// here an apache-arrow-written fixture of package dataset).
func TestLoadRowsArrow(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", "arrow", "tokens-train.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "data-00000-of-00001.arrow"), src, 0o644)
	rows, err := LoadRows(dir)
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string][]struct {
		InputIDs []int64 `json:"input_ids"`
		LossMask []int64 `json:"loss_mask"`
	}
	b, _ := os.ReadFile(filepath.Join("..", "dataset", "testdata", "arrow", "expected.json"))
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	want := exp["tokens-train.arrow"]
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if fmt.Sprint(rows[i].InputIDs, rows[i].LossMask) != fmt.Sprint(want[i].InputIDs, want[i].LossMask) {
			t.Fatalf("row %d: %v, want %v", i, rows[i], want[i])
		}
	}
}

// TestLoadRowsPrepared reads speculators prepare's layout in shard order.
func TestLoadRowsPrepared(t *testing.T) {
	dir := t.TempDir()
	all := testRows(7, 9, 100, 11)
	var shards []string
	for s, part := range [][]dataset.Row{all[:4], all[4:]} {
		name := fmt.Sprintf("data-%05d-of-00002.parquet", s)
		f, _ := os.Create(filepath.Join(dir, name))
		if err := dataset.WriteParquet(f, part); err != nil {
			t.Fatal(err)
		}
		f.Close()
		shards = append(shards, fmt.Sprintf(`{"file": %q, "rows": %d, "sha256": ""}`, name, len(part)))
	}
	meta := `{"format": "speculators-go/prepared-v1", "complete": true, "shards": [` + strings.Join(shards, ",") + `]}`
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(meta), 0o644)
	rows, err := LoadRows(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != fmt.Sprint(all) {
		t.Fatalf("rows differ")
	}
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(strings.Replace(meta, `"complete": true`, `"complete": false`, 1)), 0o644)
	if _, err := LoadRows(dir); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("incomplete data accepted: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(strings.Replace(meta, `"rows": 3`, `"rows": 2`, 1)), 0o644)
	if _, err := LoadRows(dir); err == nil {
		t.Fatal("wrong shard row count accepted")
	}
}
