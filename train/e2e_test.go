package train

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/validate"
)

// TestTrainEndToEnd: prepare → hidden states → vocab → train → validate on
// a tiny verifier. full_acc_0 must climb from near chance to a clear
// majority, and the checkpoints must pass validate.Dir.
func TestTrainEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("several training runs; skipped with -short")
	}
	f := getFixture(t)
	save := t.TempDir()
	o := tinyOptions(f, save)
	lw := logTo(t)
	o.Log = lw
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, lw)
	}
	tr, val := readMetrics(t, filepath.Join(save, "metrics.jsonl"))
	if len(tr) != sum.Steps || len(val) != o.Epochs {
		t.Fatalf("%d train and %d val lines for %d steps, %d epochs", len(tr), len(val), sum.Steps, o.Epochs)
	}
	first := metric(tr[0], "train", "full_acc_0")
	last := metric(val[len(val)-1], "val", "full_acc_0_epoch")
	t.Logf("steps %d, full_acc_0 first step %.3f, last validation %.3f; loss %.3f -> %.3f",
		sum.Steps, first, last, metric(tr[0], "train", "loss"), metric(val[len(val)-1], "val", "loss_epoch"))
	const threshold = 0.5
	if first > 0.3 || last < threshold {
		t.Errorf("full_acc_0 went from %.3f to %.3f; want a start below 0.3 and an end above %.2f\n%s", first, last, threshold, lw)
	}
	if l0, l1 := metric(tr[0], "train", "loss"), metric(val[len(val)-1], "val", "loss_epoch"); l1 > 0.5*l0 {
		t.Errorf("loss went from %.3f to %.3f; want at least halved", l0, l1)
	}
	for e := 0; e < o.Epochs; e++ {
		dir := filepath.Join(save, itoa(e))
		r, err := validate.Dir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			t.Errorf("%s: %v", dir, r.Findings)
		}
		if err := VerifyCheckpoint(dir); err != nil {
			t.Error(err)
		}
		for _, name := range []string{TrainCommandFile, ValMetricsFile, SchedulerFile, OptimizerFile} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Error(err)
			}
		}
	}
	if target, err := os.Readlink(filepath.Join(save, BestLink)); err != nil || target != itoa(sum.BestEpoch) {
		t.Errorf("checkpoint_best -> %q (%v), want %d", target, err, sum.BestEpoch)
	}
	if target, err := os.Readlink(filepath.Join(save, "epoch0_end")); err != nil || target != "0" {
		t.Errorf("epoch0_end -> %q (%v)", target, err)
	}
	checkPythonJSON(t, filepath.Join(save, itoa(sum.BestEpoch), "config.json"))
	if sum.Plot == "" {
		t.Error("no plot")
	}
}

// checkPythonJSON compares config.json with what transformers' save_pretrained
// writes for the same dict: json.dumps(d, indent=2, sort_keys=True) + "\n"
// (speculators' patch_config_dtype then rewrites it with indent=2 in the
// same key order).
func checkPythonJSON(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Log("python3 not found; skipping the Python JSON byte check")
		return
	}
	script := `import json,sys
d=json.load(open(sys.argv[1]))
sys.stdout.write(json.dumps(d, indent=2, sort_keys=True) + "\n")`
	want, err := exec.Command("python3", "-c", script, path).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from Python's json.dumps:\n%s\nwant\n%s", path, got, want)
	}
}

// TestCadenceSaveBestFromPretrained covers --checkpoint-freq 2, --save-best
// and --from-pretrained.
func TestCadenceSaveBestFromPretrained(t *testing.T) {
	if testing.Short() {
		t.Skip("several training runs; skipped with -short")
	}
	f := getFixture(t)
	o := tinyOptions(f, t.TempDir())
	o.Epochs, o.CheckpointFreq, o.NoPlot = 3, 2, true
	o.Log = logTo(t)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if eps, _ := epochDirs(o.SavePath); len(eps) != 2 || eps[0] != 1 || eps[1] != 0 {
		t.Errorf("--checkpoint-freq 2 over 3 epochs saved %v, want [1 0]", eps)
	}
	trained := filepath.Join(o.SavePath, "1")

	b := tinyOptions(f, t.TempDir())
	b.Epochs, b.SaveBest, b.NoPlot = 3, true, true
	b.Log = logTo(t)
	sum, err := Run(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	eps, _ := epochDirs(b.SavePath)
	if len(eps) != 1 || eps[0] != sum.BestEpoch {
		t.Errorf("--save-best kept %v, best epoch %d", eps, sum.BestEpoch)
	}
	if target, _ := os.Readlink(filepath.Join(b.SavePath, BestLink)); target != itoa(sum.BestEpoch) {
		t.Errorf("checkpoint_best -> %q", target)
	}

	p := tinyOptions(f, t.TempDir())
	p.Epochs, p.NoPlot, p.FromPretrained = 1, true, trained
	p.Log = logTo(t)
	if _, err := Run(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	fresh, _ := readMetrics(t, filepath.Join(o.SavePath, "metrics.jsonl"))
	warm, _ := readMetrics(t, filepath.Join(p.SavePath, "metrics.jsonl"))
	if a, w := metric(fresh[0], "train", "loss"), metric(warm[0], "train", "loss"); w > 0.5*a {
		t.Errorf("--from-pretrained first loss %.3f, fresh %.3f: the trained weights were not used", w, a)
	}
}
