package datagen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const killChildEnv = "DATAGEN_KILL_CHILD"

// killRows are the rows of the kill test, the same in parent and child.
func killOptions(model, out string) Options {
	return Options{Rows: testRows(150, 24, 320, 9), Output: out, Model: model, BatchTokens: 40}
}

// killChild runs datagen in a re-executed test binary until it is killed.
func killChild() int {
	model, out := os.Getenv(killChildEnv+"_MODEL"), os.Getenv(killChildEnv)
	if _, err := Run(context.Background(), killOptions(model, out)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKillResume kills a datagen process with SIGKILL at a random point,
// re-runs it, and expects the files and manifest of an uninterrupted run.
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	model := tinyModel(t)
	ref := t.TempDir()
	start := time.Now()
	if _, err := Run(context.Background(), killOptions(model, ref)); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	want := readDir(t, ref)
	wantMan, _ := os.ReadFile(filepath.Join(ref, "manifest.json"))
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := 0; round < 2; round++ {
		out := t.TempDir()
		kills := 0
		for attempt := 0; attempt < 2; attempt++ {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), killChildEnv+"="+out, killChildEnv+"_MODEL="+model)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Process start-up plus a random part of the run.
			delay := 30*time.Millisecond + time.Duration(rng.Float64()*float64(full))
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				kills++
			} else if err != nil {
				t.Fatalf("child: %v", err)
			}
			n := len(readDirLoose(t, out))
			t.Logf("seed %d round %d: killed after %s (full run %s): %d of 150 files", seed, round, delay, full, n)
		}
		sum, err := Run(context.Background(), killOptions(model, out))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("resume: kept %d, wrote %d, redone %d (%d kills)", sum.Kept, sum.Written, sum.Redone, kills)
		sameFiles(t, readDir(t, out), want)
		gotMan, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
		if string(gotMan) != string(wantMan) {
			t.Errorf("manifest differs from the uninterrupted run's")
		}
	}
}

// readDirLoose lists hidden-state files without judging leftovers.
func readDirLoose(t *testing.T, dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if _, ok := ParseFileName(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	return out
}
