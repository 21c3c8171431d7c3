package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestConvertCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"convert", "../../convert/testdata/eagle3_bin", "--algorithm", "eagle3",
		"--verifier", "../../convert/testdata/verifier_llama", "--output-path", out, "--algorithm-kwargs", `{"norm_before_residual": true}`})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, want := range []string{"converted ../../convert/testdata/eagle3_bin (eagle3)", "15 tensors", "float16", "validate " + out + ": 0 errors"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestConvertExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"convert", "x"}, 2},
		{[]string{"convert", "--algorithm", "eagle3", "--verifier", "v"}, 2},
		{[]string{"convert", "x", "--algorithm", "eagle3", "--verifier", "v", "--algorithm-kwargs", "[1]"}, 2},
		{[]string{"convert", "../../convert/testdata/eagle3_bin", "--algorithm", "medusa", "--verifier", "v", "--output-path", dir}, 1},
		{[]string{"convert", "../../convert/testdata/eagle3_bin", "--algorithm", "eagle3", "--verifier", "no-such/model", "--output-path", dir}, 1},
		{[]string{"stitch-mtp", "a"}, 2},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("run(%v) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
