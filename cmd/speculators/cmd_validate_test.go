package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/internal/testckpt"
)

// execute runs the CLI in-process and returns stdout and the exit code.
func execute(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		var ue *usageError
		if errors.As(err, &ee) {
			code = ee.code
		} else if errors.As(err, &ue) {
			code = 2
		}
	}
	return out.String(), code
}

func tinyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := testckpt.Write(dir, testckpt.Tiny()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateCommand(t *testing.T) {
	dir := tinyDir(t)
	out, code := execute(t, "validate", dir)
	if code != 0 || !strings.Contains(out, "0 errors, 1 warnings") || !strings.Contains(out, "warning eagle_aux_hidden_state_layer_ids") {
		t.Fatalf("validate clean: code %d\n%s", code, out)
	}
	out, code = execute(t, "validate", "--json", dir)
	var rep struct {
		OK       bool
		Errors   int
		Warnings int
		Findings []struct{ Severity, Key, Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Warnings != 1 || rep.Findings[0].Severity != "warning" {
		t.Fatalf("validate --json: code %d err %v\n%s", code, err, out)
	}
	// Break one rule (format-spec §7.2): a top-level model_type.
	p := filepath.Join(dir, "config.json")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(data, []byte("{\n"), []byte("{\n  \"model_type\": \"llama\",\n"), 1), 0o644)
	out, code = execute(t, "validate", dir)
	if code != 1 || !strings.Contains(out, "error   model_type: a top-level model_type must not be written") {
		t.Fatalf("validate broken: code %d\n%s", code, out)
	}
	if got := run([]string{"validate", dir}); got != 1 {
		t.Errorf("run(validate broken) = %d, want 1", got)
	}
	if got := run([]string{"validate"}); got != 1 && got != 2 {
		t.Errorf("run(validate) without DIR = %d", got)
	}
	if _, code := execute(t, "validate", filepath.Join(dir, "missing")); code != 1 {
		t.Errorf("missing dir: code %d, want 1", code)
	}
}

func TestInspectCommand(t *testing.T) {
	dir := tinyDir(t)
	out, code := execute(t, "inspect", dir)
	for _, w := range []string{"eagle3", "test/verifier", "512 verifier, 96 draft", "[2 46 91 93]", "speculative tokens", "43,264", "dtype BF16", "model.safetensors"} {
		if !strings.Contains(out, w) {
			t.Errorf("inspect output lacks %q", w)
		}
	}
	if code != 0 {
		t.Fatalf("code %d\n%s", code, out)
	}
	out, code = execute(t, "inspect", "--json", dir)
	var s struct {
		Algorithm       string
		TotalParameters int64 `json:"total_parameters"`
		Tensors         []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 || s.Algorithm != "eagle3" || s.TotalParameters != 43264 || len(s.Tensors) != 17 {
		t.Fatalf("inspect --json: %v %+v\n%s", err, s, out)
	}
	if _, code := execute(t, "inspect", t.TempDir()); code != 1 {
		t.Errorf("inspect of an empty dir: code %d, want 1", code)
	}
}

// TestResaveThenValidate: resave without a cast reproduces the checkpoint
// byte for byte and it still validates; with a cast it still validates.
func TestResaveThenValidate(t *testing.T) {
	src := tinyDir(t)
	out := filepath.Join(t.TempDir(), "out")
	if o, code := execute(t, "resave", src, "--output-path", out); code != 0 {
		t.Fatalf("resave: %d\n%s", code, o)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		a, _ := os.ReadFile(filepath.Join(src, f))
		b, _ := os.ReadFile(filepath.Join(out, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs after resave", f)
		}
	}
	if o, code := execute(t, "validate", out); code != 0 {
		t.Errorf("validate after resave: %d\n%s", code, o)
	}
	cast := filepath.Join(t.TempDir(), "cast")
	if o, code := execute(t, "resave", src, "--output-path", cast, "--dtype", "float16"); code != 0 {
		t.Fatalf("resave --dtype: %d\n%s", code, o)
	}
	if o, code := execute(t, "validate", cast); code != 0 {
		t.Errorf("validate after a float16 cast: %d\n%s", code, o)
	}
}
