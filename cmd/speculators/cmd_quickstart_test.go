package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickstartCommandErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := runCmd(t, "quickstart", "--output-path", filepath.Join(dir, "out"), "--verifier", filepath.Join(dir, "none"))
	if err == nil || !strings.Contains(err.Error(), "build_verifier.sh") {
		t.Errorf("missing verifier: %v", err)
	}
	_, err = runCmd(t, "quickstart", "--output-path", "")
	var ue *usageError
	if !errors.As(err, &ue) {
		t.Errorf("empty --output-path: %v, want a usage error", err)
	}
	if _, err := runCmd(t, "quickstart", "extra"); err == nil {
		t.Error("positional argument accepted")
	}
}
