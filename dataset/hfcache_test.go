package dataset

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolveHFCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_DATASETS_CACHE", "")
	repo := filepath.Join(home, "hub", "datasets--org--chats")
	old := filepath.Join(repo, "snapshots", "aaa")
	snap := filepath.Join(repo, "snapshots", "bbb")
	for _, f := range []string{
		filepath.Join(old, "data", "train-00000-of-00001.parquet"),
		filepath.Join(snap, "data", "train-00000-of-00002.parquet"),
		filepath.Join(snap, "data", "train-00001-of-00002.parquet"),
		filepath.Join(snap, "data", "train_sft-00000-of-00001.parquet"),
		filepath.Join(snap, "data", "test-00000-of-00001.parquet"),
		filepath.Join(snap, "sub", "validation.jsonl"),
		filepath.Join(snap, "README.md"),
	} {
		writeFile(t, f, "x")
	}
	writeFile(t, filepath.Join(repo, "refs", "main"), "bbb\n")
	for _, tc := range []struct {
		ref  string
		want []string
	}{
		{"org/chats", []string{"data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"}},
		{"hf:org/chats:train_sft", []string{"data/train_sft-00000-of-00001.parquet"}},
		{"org/chats:validation", []string{"sub/validation.jsonl"}},
		{"org/chats:sub:validation", []string{"sub/validation.jsonl"}},
	} {
		got, err := Resolve(tc.ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.ref, err)
			continue
		}
		var rel []string
		for _, g := range got {
			r, _ := filepath.Rel(snap, g)
			rel = append(rel, filepath.ToSlash(r))
		}
		if strings.Join(rel, " ") != strings.Join(tc.want, " ") {
			t.Errorf("Resolve(%q) = %v, want %v", tc.ref, rel, tc.want)
		}
	}
	// The datasets cache: Arrow IPC streams, newest cached version, shards in order.
	fixture, _ := os.ReadFile("testdata/arrow/sharegpt-train.arrow")
	ds := filepath.Join(home, "datasets", "org___other", "default", "0.0.0")
	writeFile(t, filepath.Join(ds, "old", "other-train.arrow"), "stale")
	os.Chtimes(filepath.Join(ds, "old"), time.Unix(1e9, 0), time.Unix(1e9, 0))
	for _, n := range []string{"other-train-00001-of-00002.arrow", "other-train-00000-of-00002.arrow", "other-train_sft.arrow", "cache-123.arrow"} {
		writeFile(t, filepath.Join(ds, "new", n), string(fixture))
	}
	got, err := Resolve("org/other:train")
	if err != nil || len(got) != 2 || filepath.Base(got[0]) != "other-train-00000-of-00002.arrow" || filepath.Base(filepath.Dir(got[0])) != "new" {
		t.Errorf("datasets cache: %v, %v", got, err)
	}
	sum, err := Prepare(context.Background(), Options{Model: filepath.Join(home, "hub"), Sources: []string{"org/other:train"},
		Output: filepath.Join(home, "out"), Renderer: scripted{{1, 1}: {1, 2}, {2, 0}: {1, 2, 3}}})
	writeFile(t, filepath.Join(home, "hub", "tokenizer_config.json"), "{}")
	if err == nil {
		t.Errorf("prepare without model files succeeded: %+v", sum)
	}
	sum, err = Prepare(context.Background(), Options{Model: filepath.Join(home, "hub"), Sources: []string{"org/other:train"},
		Output: filepath.Join(home, "out"), Renderer: scripted{{1, 1}: {1, 2}, {2, 0}: {1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	// Each shard: rows a and b give one row each (e has no assistant turn).
	if sum.Counts.RowsRead != 10 || sum.Counts.RowsOut != 4 {
		t.Errorf("prepare from the datasets cache: %+v", sum.Counts)
	}
	if _, err := Resolve("org/missing"); err == nil || !strings.Contains(err.Error(), "no split") {
		t.Errorf("missing dataset: %v", err)
	}
	if _, err := Resolve(filepath.Join(home, "nope.jsonl")); err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzReadParquet(f *testing.F) {
	var rows []Row
	rows = append(rows, Row{InputIDs: []int64{1, 2, 3}, LossMask: []int64{0, 1, 1}})
	var b strings.Builder
	WriteParquet(&b, rows)
	f.Add([]byte(b.String()))
	f.Fuzz(func(t *testing.T, data []byte) {
		readParquet(bytes.NewReader(data), int64(len(data)), "f.parquet", func(raw []byte, loc Location) {
			parseRow(raw, loc, nil)
		}, func(Problem) {})
	})
}
