package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResumeEquivalence interrupts a run in the middle of an epoch, resumes
// it, and checks that every step's loss and metrics and the final weights
// are bit for bit those of the uninterrupted run.
func TestResumeEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("several training runs; skipped with -short")
	}
	f := getFixture(t)
	base := tinyOptions(f, "")
	base.Epochs = 2
	base.CheckpointFreq = 0.5
	base.NoPlot = true

	full := base
	full.SavePath = t.TempDir()
	full.Log = logTo(t)
	if _, err := Run(context.Background(), full); err != nil {
		t.Fatal(err)
	}

	cut := base
	cut.SavePath = t.TempDir()
	lw := logTo(t)
	cut.Log = lw
	stopAt := 27 // inside epoch 1 (21 batches in epoch 0), before its mid-epoch save
	cut.interrupt = func(g int) bool { return g == stopAt }
	if _, err := Run(context.Background(), cut); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: err = %v\n%s", err, lw)
	}
	cut.interrupt = nil
	sum, err := Run(context.Background(), cut)
	if err != nil {
		t.Fatalf("%v\n%s", err, lw)
	}
	if sum.ResumedFrom != 1 || sum.FirstStep != stopAt {
		t.Fatalf("resumed from checkpoint %d at step %d, want 1 at %d\n%s", sum.ResumedFrom, sum.FirstStep, stopAt, lw)
	}
	if !strings.Contains(lw.String(), "inside epoch 1 after 6 batches") {
		t.Errorf("log does not report the mid-epoch resume:\n%s", lw)
	}
	a, av := readMetrics(t, filepath.Join(full.SavePath, "metrics.jsonl"))
	b, bv := readMetrics(t, filepath.Join(cut.SavePath, "metrics.jsonl"))
	if len(a) != len(b) || len(av) != len(bv) {
		t.Fatalf("%d/%d train and %d/%d val lines", len(a), len(b), len(av), len(bv))
	}
	for i := range a {
		for _, k := range []string{"loss", "full_acc_0", "full_acc_2", "cond_acc_1"} {
			if x, y := metric(a[i], "train", k), metric(b[i], "train", k); x != y {
				t.Errorf("step %d %s: uninterrupted %v, resumed %v", i, k, x, y)
			}
		}
	}
	if x, y := metric(av[1], "val", "loss_epoch"), metric(bv[1], "val", "loss_epoch"); x != y {
		t.Errorf("validation loss %v vs %v", x, y)
	}
	for _, name := range []string{"model.safetensors", OptimizerFile, SchedulerFile, TrainingStateFile} {
		x, err := os.ReadFile(filepath.Join(full.SavePath, "1", name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(cut.SavePath, "1", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("1/%s differs between the uninterrupted and the resumed run", name)
		}
	}
}

// TestCorruptCheckpointSkipped damages the newest checkpoint in several
// ways; each time resume must fall back to the previous complete one.
func TestCorruptCheckpointSkipped(t *testing.T) {
	if testing.Short() {
		t.Skip("several training runs; skipped with -short")
	}
	f := getFixture(t)
	o := tinyOptions(f, t.TempDir())
	o.Epochs = 2
	o.NoPlot = true
	o.Log = logTo(t)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	pristine := t.TempDir()
	copyDir(t, filepath.Join(o.SavePath, "1"), pristine)
	damage := map[string]func(dir string){
		"flipped byte": func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
		},
		"truncated optimizer": func(dir string) {
			p := filepath.Join(dir, OptimizerFile)
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/2)
		},
		"no manifest (partial write)": func(dir string) { os.Remove(filepath.Join(dir, ManifestName)) },
		"missing training state":      func(dir string) { os.Remove(filepath.Join(dir, TrainingStateFile)) },
		"garbage manifest":            func(dir string) { os.WriteFile(filepath.Join(dir, ManifestName), []byte("{\"format\":"), 0o644) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(o.SavePath, "1")
			os.RemoveAll(dir)
			copyDir(t, pristine, dir)
			if ep, bad, err := LatestCheckpoint(o.SavePath); err != nil || ep != 1 || len(bad) != 0 {
				t.Fatalf("pristine: %d %v %v", ep, bad, err)
			}
			fn(dir)
			ep, bad, err := LatestCheckpoint(o.SavePath)
			if err != nil || ep != 0 || len(bad) != 1 || !strings.Contains(bad[0], dir) {
				t.Fatalf("after damage: epoch %d, skipped %q, err %v; want 0 with %s skipped", ep, bad, err, dir)
			}
			t.Log(bad[0])
		})
	}
	// A resumed run takes epoch 0, warns about 1, and redoes epoch 1.
	os.MkdirAll(filepath.Join(o.SavePath, ".tmp-1-123"), 0o755) // a crashed save's leftovers
	lw := logTo(t)
	o.Log = lw
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ResumedFrom != 0 || !strings.Contains(lw.String(), "ignoring incomplete or corrupt checkpoint") {
		t.Errorf("resumed from %d; log:\n%s", sum.ResumedFrom, lw)
	}
	if err := VerifyCheckpoint(filepath.Join(o.SavePath, "1")); err != nil {
		t.Errorf("epoch 1 was not rewritten: %v", err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
