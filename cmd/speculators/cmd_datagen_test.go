package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/datagen"
)

// TestDatagenPipeline runs regenerate -> prepare -> datagen on a tiny
// model through the CLI, then checks every file against its prepared row.
func TestDatagenPipeline(t *testing.T) {
	model := tinyModelDir(t, "qwen3")
	dir := t.TempDir()
	src := filepath.Join(dir, "conv.jsonl")
	os.WriteFile(src, []byte(`{"messages": [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "old"}]}
{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
`), 0o644)
	regen := filepath.Join(dir, "regen.jsonl")
	if _, err := runCmd(t, "regenerate", "--data", src, "--output", regen, "--model", model, "--max-tokens", "5"); err != nil {
		t.Fatal(err)
	}
	prep := filepath.Join(dir, "prep")
	if _, err := runCmd(t, "prepare", "--model", model, "--data", regen, "--output", prep, "--quiet"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hs")
	if _, err := runCmd(t, "datagen", "--preprocessed-data", prep, "--output", out, "--model", model, "--validate-outputs", "--layers", "1,2"); err != nil {
		t.Fatal(err)
	}
	rows, err := datagen.LoadRows(prep)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no prepared rows")
	}
	for i, r := range rows {
		h, err := datagen.ReadFile(filepath.Join(out, datagen.FileName(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Check(r.InputIDs, true); err != nil || h.Slots != 3 {
			t.Fatalf("row %d: %v (%d slots)", i, err, h.Slots)
		}
	}
	man, err := datagen.ReadManifest(filepath.Join(out, "manifest.json"))
	if err != nil || !man.Complete || len(man.Files) != len(rows) || man.Verifier != model {
		t.Fatalf("%+v %v", man, err)
	}
	if code := run([]string{"datagen", "--preprocessed-data", prep}); code != 2 {
		t.Errorf("no backend: exit %d, want 2", code)
	}
	if code := run([]string{"datagen", "--preprocessed-data", prep, "--model", model, "--world-size", "2", "--rank", "2"}); code != 2 {
		t.Errorf("rank 2 of 2: exit %d, want 2", code)
	}
}

func TestLaunchVLLMDryRun(t *testing.T) {
	out, err := runCmd(t, "launch-vllm", "org/model", "--num-layers", "32", "--hidden-states-path", "/data/hs", "--dry-run", "--", "--port", "8001")
	if err != nil {
		t.Fatal(err)
	}
	want := `python3 -m vllm.entrypoints.cli.main serve org/model --speculative_config '{"method": "extract_hidden_states", "num_speculative_tokens": 1, "draft_model_config": {"hf_config": {"eagle_aux_hidden_state_layer_ids": [2, 16, 29, 32]}}}' --kv_transfer_config '{"kv_connector": "ExampleHiddenStatesConnector", "kv_role": "kv_producer", "kv_connector_extra_config": {"shared_storage_path": "/data/hs"}}' --port 8001`
	if strings.TrimSpace(out) != want {
		t.Fatalf("%s\nwant\n%s", out, want)
	}
	out, err = runCmd(t, "launch-vllm", "m", "--num-layers", "28", "--target-layer-ids", "3,9", "--dry-run")
	if err != nil || !strings.Contains(out, "[3, 9, 28]") {
		t.Fatalf("%s %v", out, err)
	}
	if out, err := runCmd(t, "launch-vllm", "m", "extra", "--dry-run", "--num-layers", "4"); err != nil || !strings.HasSuffix(strings.TrimSpace(out), " extra") {
		t.Errorf("positional arguments are forwarded as launch_vllm.py does: %s %v", out, err)
	}
	if code := run([]string{"launch-vllm", "org/m", "--dry-run"}); code != 1 {
		t.Errorf("Hub id without --num-layers: exit %d, want 1", code)
	}
}

// TestLaunchVLLMExec: without --dry-run the command replaces the process
// with the interpreter (here /bin/echo, so the child prints the argv).
func TestLaunchVLLMExec(t *testing.T) {
	if dir := os.Getenv("SPECULATORS_TEST_LAUNCH_EXEC"); dir != "" {
		os.Exit(run([]string{"launch-vllm", "m", "--num-layers", "4", "--python", "/bin/echo", "--hidden-states-path", dir, "--", "--port", "1"}))
	}
	if _, err := os.Stat("/bin/echo"); err != nil {
		t.Skip("no /bin/echo")
	}
	dir := filepath.Join(t.TempDir(), "hs")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLaunchVLLMExec$")
	cmd.Env = append(os.Environ(), "SPECULATORS_TEST_LAUNCH_EXEC="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := `-m vllm.entrypoints.cli.main serve m --speculative_config {"method": "extract_hidden_states", "num_speculative_tokens": 1, "draft_model_config": {"hf_config": {"eagle_aux_hidden_state_layer_ids": [2, 2, 1, 4]}}} --kv_transfer_config {"kv_connector": "ExampleHiddenStatesConnector", "kv_role": "kv_producer", "kv_connector_extra_config": {"shared_storage_path": "` + dir + `"}} --port 1`
	if lines[len(lines)-1] != want {
		t.Fatalf("exec'd argv:\n%s\nwant\n%s", lines[len(lines)-1], want)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Errorf("--hidden-states-path not created: %v", err)
	}
}
