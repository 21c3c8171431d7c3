package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "speculators ") {
		t.Fatalf("version output = %q", out.String())
	}
}

func TestExitCodes(t *testing.T) {
	if got := run([]string{"version"}); got != 0 {
		t.Errorf("run(version) = %d, want 0", got)
	}
	if got := run([]string{"version", "--no-such-flag"}); got != 2 {
		t.Errorf("run(bad flag) = %d, want 2", got)
	}
	if got := run([]string{"no-such-command"}); got != 1 {
		t.Errorf("run(unknown command) = %d, want 1", got)
	}
}
