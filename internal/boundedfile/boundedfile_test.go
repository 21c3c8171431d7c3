package boundedfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit   int64
		wantErr string
	}{{10, ""}, {100, ""}, {9, "larger than 9 bytes"}, {0, "larger than 0 bytes"}} {
		got, err := Read(p, c.limit)
		switch {
		case c.wantErr == "" && (err != nil || string(got) != "0123456789"):
			t.Errorf("limit %d: %q, %v", c.limit, got, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), p)):
			t.Errorf("limit %d: error %v, want one naming %s and %q", c.limit, err, p, c.wantErr)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := Read(dir, 10); err == nil {
		t.Error("reading a directory succeeded")
	}
}
