package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/internal/atomicfile"
	"github.com/speculators-go/speculators/internal/boundedfile"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/safetensors"
)

// Files of a checkpoint directory (training-spec §6.4). The optimizer and
// scheduler state are safetensors rather than torch pickles; the optimizer
// file also holds the fp32 master weights, since model.safetensors is bf16.
const (
	ManifestName       = "manifest.json"
	OptimizerFile      = "optimizer_state_dict.safetensors"
	SchedulerFile      = "scheduler_state_dict.safetensors"
	TrainingStateFile  = "training_state.json"
	TrainCommandFile   = "train_command.txt"
	ValMetricsFile     = "val_metrics.json"
	BestLink           = "checkpoint_best"
	manifestFormat     = "speculators-go/checkpoint-v1"
	optimizerFormat    = "speculators-go/optimizer-v1"
	maxManifestSize    = 1 << 20
	maxSmallFileSize   = 1 << 20
	maxCheckpointFiles = 64
)

// TrainingState is training_state.json, as the Python trainer writes it.
type TrainingState struct {
	Epoch      int `json:"epoch"`
	LocalStep  int `json:"local_step"` // batches done in Epoch; 0 means the epoch is complete
	GlobalStep int `json:"global_step"`
}

// Manifest lists every file of a checkpoint with its size and SHA-256; it
// is written last, so a directory without a valid one is incomplete.
type Manifest struct {
	Format string         `json:"format"`
	Files  []ManifestFile `json:"files"`
}

// ManifestFile is one entry of a Manifest.
type ManifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeManifest hashes every regular file of dir into dir/manifest.json.
func writeManifest(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	m := Manifest{Format: manifestFormat}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == ManifestName || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, sum, err := hashFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		m.Files = append(m.Files, ManifestFile{Path: e.Name(), Size: n, SHA256: sum})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestName), append(data, '\n'), 0o644)
}

// VerifyCheckpoint checks that dir holds a complete checkpoint: a manifest
// naming at least the model, optimizer and training state, each file with
// its recorded size and SHA-256.
func VerifyCheckpoint(dir string) error {
	p := filepath.Join(dir, ManifestName)
	data, err := boundedfile.Read(p, maxManifestSize)
	if err != nil {
		return fmt.Errorf("no readable manifest (%v): the checkpoint was not completed", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %v", p, err)
	}
	if m.Format != manifestFormat {
		return fmt.Errorf("%s: format %q, want %q", p, m.Format, manifestFormat)
	}
	if len(m.Files) > maxCheckpointFiles {
		return fmt.Errorf("%s: %d files listed", p, len(m.Files))
	}
	need := map[string]bool{"config.json": true, "model.safetensors": true, OptimizerFile: true, TrainingStateFile: true}
	for _, f := range m.Files {
		if f.Path != filepath.Base(f.Path) || f.Path == "." || f.Path == ".." {
			return fmt.Errorf("%s: bad file name %q", p, f.Path)
		}
		delete(need, f.Path)
		n, sum, err := hashFile(filepath.Join(dir, f.Path))
		if err != nil {
			return fmt.Errorf("%s: %v", f.Path, err)
		}
		if n != f.Size || sum != f.SHA256 {
			return fmt.Errorf("%s: %d bytes with SHA-256 %s, the manifest says %d bytes, %s", f.Path, n, sum[:12], f.Size, f.SHA256[:min(12, len(f.SHA256))])
		}
	}
	for n := range need {
		return fmt.Errorf("%s: %s missing from the manifest", p, n)
	}
	return nil
}

// epochDirs returns the numeric checkpoint directories of root, newest
// first (symlinks such as epoch0_end are skipped, as in Python).
func epochDirs(root string) ([]int, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 0 || strconv.Itoa(n) != e.Name() {
			continue
		}
		out = append(out, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out, nil
}

// LatestCheckpoint returns the newest complete checkpoint under root (-1
// when there is none) and one message per newer directory that failed
// verification and was passed over.
func LatestCheckpoint(root string) (epoch int, skipped []string, err error) {
	eps, err := epochDirs(root)
	if err != nil {
		return -1, nil, fmt.Errorf("train: %w", err)
	}
	for _, e := range eps {
		dir := filepath.Join(root, strconv.Itoa(e))
		if err := VerifyCheckpoint(dir); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", dir, err))
			continue
		}
		return e, skipped, nil
	}
	return -1, skipped, nil
}

// saveState is what a checkpoint holds besides the model.
type saveState struct {
	opts       []*optimizer
	sched      Schedule
	state      TrainingState
	command    []byte             // train_command.txt
	valMetrics map[string]float64 // nil when no validation ran
}

// saveCheckpoint writes root/<epoch> atomically: everything goes to a
// hidden temporary directory, the manifest last, then one rename.
func saveCheckpoint(root string, epoch int, m *eagle3.Model, s saveState) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	tmp, err := os.MkdirTemp(root, fmt.Sprintf(".tmp-%d-", epoch))
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := m.Save(tmp); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := writeOptimizer(filepath.Join(tmp, OptimizerFile), m, s.opts); err != nil {
		return err
	}
	if err := writeScheduler(filepath.Join(tmp, SchedulerFile), s.sched, s.opts, s.state.GlobalStep); err != nil {
		return err
	}
	st := fmt.Sprintf(`{"epoch": %d, "local_step": %d, "global_step": %d}`, s.state.Epoch, s.state.LocalStep, s.state.GlobalStep)
	if err := atomicfile.WriteFile(filepath.Join(tmp, TrainingStateFile), []byte(st), 0o644); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if s.command != nil {
		if err := atomicfile.WriteFile(filepath.Join(tmp, TrainCommandFile), s.command, 0o644); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if s.valMetrics != nil {
		if err := atomicfile.WriteFile(filepath.Join(tmp, ValMetricsFile), pyDict(s.valMetrics), 0o644); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if err := writeManifest(tmp); err != nil {
		return fmt.Errorf("train: %s: %w", tmp, err)
	}
	final := filepath.Join(root, strconv.Itoa(epoch))
	var old string
	if _, err := os.Lstat(final); err == nil {
		old = filepath.Join(root, fmt.Sprintf(".old-%d-%d", epoch, os.Getpid()))
		os.RemoveAll(old)
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ok = true
	syncDir(root)
	if old != "" {
		os.RemoveAll(old)
	}
	suffix := "end"
	if s.state.LocalStep > 0 {
		suffix = fmt.Sprintf("step%d", s.state.LocalStep)
	}
	links, _ := filepath.Glob(filepath.Join(root, fmt.Sprintf("epoch%d_*", epoch)))
	for _, l := range links {
		if fi, err := os.Lstat(l); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			os.Remove(l)
		}
	}
	if err := os.Symlink(strconv.Itoa(epoch), filepath.Join(root, fmt.Sprintf("epoch%d_%s", epoch, suffix))); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// setLink points root/name at target, replacing it atomically.
func setLink(root, name, target string) error {
	tmp := filepath.Join(root, fmt.Sprintf(".%s.tmp-%d", name, os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	p := filepath.Join(root, name)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() && fi.Mode()&os.ModeSymlink == 0 {
		os.RemoveAll(p)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// pyDict renders a flat metrics dict as Python's json.dumps does (keys
// sorted here for a stable file).
func pyDict(m map[string]float64) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteString(": ")
		b.WriteString(config.PyFloat(m[k])) // NaN and ±Infinity as json.dumps writes them
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func f32Tensor(name string, w []float32) safetensors.Tensor {
	b, _ := safetensors.EncodeFloat32(safetensors.F32, w)
	return safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: []int64{int64(len(w))}, Data: b}
}

// writeOptimizer stores the fp32 master weights ("param/<name>") and each
// optimizer's state ("<opt>/<name>/<buffer>") with the AdamW step counts in
// the metadata.
func writeOptimizer(path string, m *eagle3.Model, opts []*optimizer) error {
	var ts []safetensors.Tensor
	for _, p := range m.Params() {
		ts = append(ts, f32Tensor("param/"+p.Name, p.W))
	}
	meta := map[string]string{"format": optimizerFormat}
	var names []string
	for _, o := range opts {
		names = append(names, o.name)
		meta[o.name+".step"] = itoa(o.stepCount())
		st := o.stateTensors(o.name + "/")
		keys := make([]string, 0, len(st))
		for k := range st {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ts = append(ts, f32Tensor(k, st[k]))
		}
	}
	meta["optimizers"] = strings.Join(names, ",")
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// loadOptimizer restores what writeOptimizer stored; every tensor must be
// present with the right size.
func loadOptimizer(path string, m *eagle3.Model, opts []*optimizer) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	meta := f.Metadata()
	if meta["format"] != optimizerFormat {
		return fmt.Errorf("train: %s: format %q, want %q", path, meta["format"], optimizerFormat)
	}
	var names []string
	for _, o := range opts {
		names = append(names, o.name)
	}
	if got := meta["optimizers"]; got != strings.Join(names, ",") {
		return fmt.Errorf("train: %s: optimizers %q, this run uses %q (was --optimizer changed?)", path, got, strings.Join(names, ","))
	}
	read := func(name string, dst []float32) error {
		info, ok := f.Info(name)
		if !ok {
			return fmt.Errorf("train: %s: tensor %s missing", path, name)
		}
		if info.DType != safetensors.F32 || info.NumElements() != int64(len(dst)) {
			return fmt.Errorf("train: %s: tensor %s is %s with %d values, want F32 with %d", path, name, info.DType, info.NumElements(), len(dst))
		}
		x, err := f.Float32(name)
		if err != nil {
			return fmt.Errorf("train: %s: %w", path, err)
		}
		copy(dst, x)
		return nil
	}
	for _, p := range m.Params() {
		if err := read("param/"+p.Name, p.W); err != nil {
			return err
		}
	}
	for _, o := range opts {
		for k, dst := range o.stateTensors(o.name + "/") {
			if err := read(k, dst); err != nil {
				return err
			}
		}
		n, err := strconv.Atoi(meta[o.name+".step"])
		if err != nil || n < 0 {
			return fmt.Errorf("train: %s: bad step count %q for %s", path, meta[o.name+".step"], o.name)
		}
		o.setStepCount(n)
	}
	return nil
}

// writeScheduler stores each optimizer's scheduler as torch's LambdaLR
// state: last_epoch (steps taken) and base_lrs, plus the schedule.
func writeScheduler(path string, s Schedule, opts []*optimizer, steps int) error {
	last := make([]byte, 8*len(opts))
	base := make([]float64, len(opts))
	for i, o := range opts {
		for j := 0; j < 8; j++ {
			last[8*i+j] = byte(uint64(steps) >> (8 * j))
		}
		base[i] = o.baseLR
	}
	bb := make([]byte, 8*len(base))
	for i, v := range base {
		u := math.Float64bits(v)
		for j := 0; j < 8; j++ {
			bb[8*i+j] = byte(u >> (8 * j))
		}
	}
	meta := map[string]string{"type": s.Type, "warmup": itoa(s.Warmup), "total": itoa(s.Total),
		"cycles": strconv.FormatFloat(s.Cycles, 'g', -1, 64)}
	ts := []safetensors.Tensor{
		{Name: "base_lrs", DType: safetensors.F64, Shape: []int64{int64(len(opts))}, Data: bb},
		{Name: "last_epoch", DType: safetensors.I64, Shape: []int64{int64(len(opts))}, Data: last},
	}
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// loadScheduler returns the step count saved in a scheduler file; it must
// agree with the training state.
func loadScheduler(path string) (int, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return 0, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	v, err := f.Int64("last_epoch")
	if err != nil {
		return 0, fmt.Errorf("train: %s: %w", path, err)
	}
	if len(v) == 0 {
		return 0, fmt.Errorf("train: %s: empty last_epoch", path)
	}
	for _, x := range v[1:] {
		if x != v[0] {
			return 0, fmt.Errorf("train: %s: schedulers disagree on the step (%v)", path, v)
		}
	}
	return int(v[0]), nil
}

func readTrainingState(path string) (TrainingState, error) {
	var s TrainingState
	data, err := boundedfile.Read(path, maxSmallFileSize)
	if err != nil {
		return s, fmt.Errorf("train: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("train: %s: %w", path, err)
	}
	if s.Epoch < 0 || s.LocalStep < 0 || s.GlobalStep < 0 {
		return s, fmt.Errorf("train: %s: negative counters %+v", path, s)
	}
	return s, nil
}
