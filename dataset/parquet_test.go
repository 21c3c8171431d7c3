package dataset

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestParquetSecondReader reads our Parquet output with hyparquet, a
// JavaScript reader that shares no code with parquet-go, and checks the
// schema (input_ids and loss_mask as LIST of INT64, seq_len INT64) and every
// value.
func TestParquetSecondReader(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the node reader is run by the full test")
	}
	script := filepath.Join("testdata", "npm", "read_parquet.mjs")
	mods := filepath.Join("testdata", "npm", "node_modules", "hyparquet")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(mods); err != nil || serr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or %s missing: run cd dataset/testdata/npm && npm ci", mods)
		}
		t.Skipf("node or %s missing: run cd dataset/testdata/npm && npm ci", mods)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]Row, 2500) // more than one page and row-group buffer
	for i := range rows {
		n := 1 + rng.IntN(300)
		r := Row{InputIDs: make([]int64, n), LossMask: make([]int64, n)}
		for j := range n {
			r.InputIDs[j] = rng.Int64N(152000)
			if j >= n/2 {
				r.LossMask[j] = 1
			}
		}
		rows[i] = r
	}
	path := filepath.Join(t.TempDir(), "data-00000-of-00001.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteParquet(f, rows); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command(node, script, path).Output()
	if err != nil {
		t.Fatalf("hyparquet: %v", err)
	}
	var got struct {
		NumRows int `json:"num_rows"`
		Columns []struct {
			Name    string  `json:"name"`
			Logical *string `json:"logical"`
			Leaf    string  `json:"leaf"`
		} `json:"columns"`
		Rows []struct {
			InputIDs []int64 `json:"input_ids"`
			LossMask []int64 `json:"loss_mask"`
			SeqLen   int64   `json:"seq_len"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.NumRows != len(rows) || len(got.Rows) != len(rows) {
		t.Fatalf("hyparquet sees %d rows (%d read), want %d", got.NumRows, len(got.Rows), len(rows))
	}
	wantCols := []string{"input_ids LIST INT64", "loss_mask LIST INT64", "seq_len INT_64 INT64"}
	for i, c := range got.Columns {
		l := ""
		if c.Logical != nil {
			l = *c.Logical
		}
		if s := c.Name + " " + l + " " + c.Leaf; i >= len(wantCols) || s != wantCols[i] {
			t.Errorf("column %d = %q", i, s)
		}
	}
	for i, r := range got.Rows {
		if !slices.Equal(r.InputIDs, rows[i].InputIDs) || !slices.Equal(r.LossMask, rows[i].LossMask) || r.SeqLen != int64(len(rows[i].InputIDs)) {
			t.Fatalf("row %d differs in hyparquet", i)
		}
	}
}

func BenchmarkWriteParquet(b *testing.B) {
	rows := make([]Row, 1000)
	for i := range rows {
		rows[i] = Row{InputIDs: make([]int64, 1024), LossMask: make([]int64, 1024)}
	}
	b.ReportAllocs()
	for b.Loop() {
		WriteParquet(discard{}, rows)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
