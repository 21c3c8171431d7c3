package datagen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/speculators-go/speculators/dataset"
)

// LoadRows reads the rows of a prepared dataset in positional order (row i
// is the i-th row over the shards in order, the contract with
// hs_{i}.safetensors): a folder written by `speculators prepare`
// (metadata.json and data-*.parquet) or by speculators' prepare_data.py
// (data-*.arrow Hugging Face Arrow shards).
func LoadRows(dir string) ([]dataset.Row, error) {
	sum, err := dataset.ReadMetadata(dir)
	switch {
	case err == nil:
		if !sum.Complete {
			return nil, fmt.Errorf("datagen: %s: the prepared data is incomplete (metadata.json says complete: false); finish `speculators prepare` first", dir)
		}
		var rows []dataset.Row
		for _, sh := range sum.Shards {
			if sh.File != filepath.Base(sh.File) || !strings.HasSuffix(sh.File, ".parquet") {
				return nil, fmt.Errorf("datagen: %s: metadata.json names shard %q", dir, sh.File)
			}
			part, err := dataset.ReadParquetRows(filepath.Join(dir, sh.File))
			if err != nil {
				return nil, err
			}
			if len(part) != sh.Rows {
				return nil, fmt.Errorf("datagen: %s: %d rows, metadata.json says %d", sh.File, len(part), sh.Rows)
			}
			rows = append(rows, part...)
		}
		return rows, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	arrows, _ := filepath.Glob(filepath.Join(dir, "data-*.arrow"))
	if len(arrows) == 0 {
		return nil, fmt.Errorf("datagen: %s: no metadata.json (speculators prepare) and no data-*.arrow shards (prepare_data.py)", dir)
	}
	sort.Strings(arrows)
	var rows []dataset.Row
	var bad []string
	for _, p := range arrows {
		var w dataset.Warnings
		_, err := dataset.ReadFile(p, &w, func(e dataset.Example) {
			if !e.Tokenized() {
				bad = append(bad, e.Loc.String()+": not a tokenized row")
				return
			}
			rows = append(rows, dataset.Row{InputIDs: e.InputIDs, LossMask: e.LossMask})
		}, func(p dataset.Problem) { bad = append(bad, p.Error()) })
		if err != nil {
			return nil, fmt.Errorf("datagen: %w", err)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("datagen: %s: %d unreadable rows, first: %s (rows are positional, so none may be dropped)", dir, len(bad), bad[0])
	}
	return rows, nil
}
