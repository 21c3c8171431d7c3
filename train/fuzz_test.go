package train

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/safetensors"
)

// FuzzVerifyCheckpoint feeds hostile manifests to the checkpoint check: it
// must report an error, never panic, for anything but a matching manifest.
func FuzzVerifyCheckpoint(f *testing.F) {
	f.Add([]byte(`{"format":"speculators-go/checkpoint-v1","files":[{"path":"config.json","size":2,"sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}`))
	f.Add([]byte(`{"format":"speculators-go/checkpoint-v1","files":[{"path":"../x","size":1,"sha256":""}]}`))
	f.Add([]byte(`{"format":"speculators-go/checkpoint-v1","files":[{"path":"config.json","size":-1,"sha256":"zz"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
		os.WriteFile(filepath.Join(dir, ManifestName), manifest, 0o644)
		if err := VerifyCheckpoint(dir); err == nil {
			t.Fatalf("incomplete checkpoint accepted with manifest %q", manifest)
		}
	})
}

// FuzzTrainingState checks training_state.json parsing: no panic, and no
// negative counters accepted.
func FuzzTrainingState(f *testing.F) {
	f.Add([]byte(`{"epoch": 0, "local_step": 0, "global_step": 10}`))
	f.Add([]byte(`{"epoch": -1}`))
	f.Add([]byte(`{"epoch": 1e300}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), TrainingStateFile)
		os.WriteFile(p, data, 0o644)
		s, err := readTrainingState(p)
		if err == nil && (s.Epoch < 0 || s.LocalStep < 0 || s.GlobalStep < 0) {
			t.Fatalf("accepted %+v", s)
		}
	})
}

// FuzzLoadScheduler gives hostile bytes as a scheduler state file.
func FuzzLoadScheduler(f *testing.F) {
	f.Add([]byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), OptimizerFile)
		os.WriteFile(p, data, 0o644)
		if _, err := loadScheduler(p); err == nil && len(data) < 16 {
			t.Fatalf("scheduler state accepted from %q", data)
		}
	})
}

// FuzzHiddenStateFile gives hostile bytes as hs_0.safetensors: the loader
// must skip the sample (or use it when it is valid), never panic, and
// leave the batch all padding when it skips.
func FuzzHiddenStateFile(f *testing.F) {
	dir := f.TempDir()
	writeHS := func(ids []int64, shape []int64, dt safetensors.DType, n int) []byte {
		p := filepath.Join(dir, "seed.safetensors")
		vals := make([]float32, n)
		b, _ := safetensors.EncodeFloat32(dt, vals)
		tb := make([]byte, 8*len(ids))
		for i, v := range ids {
			tb[8*i] = byte(v)
		}
		safetensors.WriteFile(p, []safetensors.Tensor{
			{Name: "hidden_states", DType: dt, Shape: shape, Data: b},
			{Name: "token_ids", DType: safetensors.I64, Shape: []int64{int64(len(ids))}, Data: tb}}, nil)
		data, _ := os.ReadFile(p)
		return data
	}
	f.Add(writeHS([]int64{1, 2, 3}, []int64{3, 3, 2}, safetensors.BF16, 18))
	f.Add(writeHS([]int64{1, 2, 3}, []int64{3, 3, 2}, safetensors.F32, 18))
	f.Add(writeHS([]int64{1, 2, 3}, []int64{3, 2, 3}, safetensors.F16, 18))
	f.Add(writeHS([]int64{1, 2}, []int64{2, 3, 2}, safetensors.BF16, 12))
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		os.WriteFile(HiddenStatePath(d, 0), data, 0o644)
		l := &loader{hsDir: d, A: 2, H: 2, V: 10, warn: func(string, ...any) {}}
		b := eagle3.NewBatch(4, 4, 2)
		row := Row{Index: 0, InputIDs: []int64{1, 2, 3}, LossMask: []int64{0, 1, 1}}
		if err := l.fill(b, []Row{row}); err != nil {
			t.Fatal(err)
		}
		if l.skip == 1 && b.Doc[0] != -1 {
			t.Fatal("skipped sample left data in the batch")
		}
	})
}
