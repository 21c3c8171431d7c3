package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/speculators-go/speculators/pytorch"
	"github.com/speculators-go/speculators/safetensors"
)

// Resolve turns a command-line model argument into a local directory: an
// existing directory is used as is; anything else is looked up as a Hugging
// Face hub id ("org/name") in the local hub cache, which nothing here
// downloads into. The cache is $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub; the revision is refs/main, else the only
// snapshot.
func Resolve(nameOrPath string) (string, error) { return ResolveIn(nameOrPath, "") }

// ResolveIn is Resolve with an explicit hub cache directory (the Python
// converters' cache_dir); empty uses the environment.
func ResolveIn(nameOrPath, cacheDir string) (string, error) {
	if st, err := os.Stat(nameOrPath); err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("%s is a file; want a model directory (config.json plus weights)", nameOrPath)
		}
		return nameOrPath, nil
	}
	cache := cacheDir
	if cache == "" {
		cache = hubCache()
	}
	id := nameOrPath
	if strings.Count(id, "/") != 1 || strings.HasPrefix(id, "/") || strings.HasPrefix(id, ".") || strings.Contains(id, "..") {
		return "", fmt.Errorf("%s: no such directory, and not a hub id of the form org/name", nameOrPath)
	}
	repo := filepath.Join(cache, "models--"+strings.ReplaceAll(id, "/", "--"))
	snaps := filepath.Join(repo, "snapshots")
	if b, err := os.ReadFile(filepath.Join(repo, "refs", "main")); err == nil {
		rev := strings.TrimSpace(string(b))
		if rev != "" && !strings.ContainsAny(rev, `/\`) && rev != "." && rev != ".." {
			dir := filepath.Join(snaps, rev)
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				return dir, nil
			}
			return "", fmt.Errorf("%s: refs/main names revision %s but %s is missing (incomplete download?)", nameOrPath, rev, dir)
		}
	}
	ents, err := os.ReadDir(snaps)
	if err == nil {
		var dirs []string
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			}
		}
		if len(dirs) == 1 {
			return filepath.Join(snaps, dirs[0]), nil
		}
		if len(dirs) > 1 {
			return "", fmt.Errorf("%s: %d snapshots in %s and no refs/main; pass the snapshot directory itself", nameOrPath, len(dirs), snaps)
		}
	}
	return "", fmt.Errorf("%s: not a local directory and not in the Hugging Face cache (looked in %s; set HF_HUB_CACHE or HF_HOME, or download it first with `huggingface-cli download %s`)", nameOrPath, repo, nameOrPath)
}

func hubCache() string {
	if c := os.Getenv("HF_HUB_CACHE"); c != "" {
		return c
	}
	if h := os.Getenv("HF_HOME"); h != "" {
		return filepath.Join(h, "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "~"
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// Tensor is one tensor of a source checkpoint. Its bytes are read on demand,
// in sections, so a conversion never holds more than the tensor it writes.
type Tensor struct {
	Name  string
	DType safetensors.DType
	Shape []int64
	// File is the file holding the tensor (for error messages).
	File    string
	section func(off, n int64) (io.Reader, func() error, error)
	// fh and base, when set, say the tensor's bytes lie at byte base of fh,
	// so a writer that accepts io.ReaderFrom can copy them in the kernel.
	fh   *os.File
	base int64
}

// NumBytes is the size of the tensor's data.
func (t *Tensor) NumBytes() int64 { return numel(t.Shape) * int64(t.DType.Size()) }

// Section returns a reader of n bytes at byte off of the tensor's C-order data.
func (t *Tensor) Section(off, n int64) (io.Reader, func() error, error) {
	if off < 0 || n < 0 || off+n > t.NumBytes() {
		return nil, nil, fmt.Errorf("%s: section [%d,+%d) outside its %d bytes", t.Name, off, n, t.NumBytes())
	}
	return t.section(off, n)
}

// ReadAll returns the tensor's bytes (for small tensors such as d2t).
func (t *Tensor) ReadAll() ([]byte, error) {
	r, closer, err := t.Section(0, t.NumBytes())
	if err != nil {
		return nil, err
	}
	defer closer()
	b := make([]byte, t.NumBytes())
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", t.File, t.Name, err)
	}
	return b, nil
}

// Source is the set of tensors of a checkpoint directory, whatever its
// format: model.safetensors, sharded safetensors with an index,
// pytorch_model.bin, sharded pytorch_model-*.bin with
// pytorch_model.bin.index.json, or a single *.pt / *.bin file.
type Source struct {
	Dir     string
	Format  string // "safetensors", "safetensors (sharded)", "pytorch", "pytorch (sharded)"
	tensors map[string]*Tensor
	names   []string
	closers []func() error
}

// Names lists the tensor names in byte order.
func (s *Source) Names() []string { return s.names }

// Tensor looks a tensor up by name.
func (s *Source) Tensor(name string) (*Tensor, bool) {
	t, ok := s.tensors[name]
	return t, ok
}

// Close releases every file.
func (s *Source) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

func (s *Source) add(t *Tensor) error {
	if _, dup := s.tensors[t.Name]; dup {
		return fmt.Errorf("%s: tensor %s appears twice", s.Dir, t.Name)
	}
	s.tensors[t.Name] = t
	s.names = append(s.names, t.Name)
	return nil
}

// OpenSource opens the weights of a model directory. safetensors is preferred
// when both formats are present (as transformers does).
func OpenSource(dir string) (*Source, error) {
	s := &Source{Dir: dir, tensors: map[string]*Tensor{}}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	var err error
	switch {
	case exists(safetensors.SingleFileName) || exists(safetensors.IndexFileName):
		err = s.openSafetensors()
	case exists("pytorch_model.bin"):
		s.Format = "pytorch"
		err = s.openTorch(filepath.Join(dir, "pytorch_model.bin"))
	case exists("pytorch_model.bin.index.json"):
		err = s.openTorchIndex(filepath.Join(dir, "pytorch_model.bin.index.json"))
	default:
		var pts []string
		for _, pat := range []string{"*.pt", "*.pth", "*.bin"} {
			m, _ := filepath.Glob(filepath.Join(dir, pat))
			pts = append(pts, m...)
		}
		var shards []string
		for _, p := range pts {
			if !strings.Contains(filepath.Base(p), "optimizer") && !strings.Contains(filepath.Base(p), "scheduler") && !strings.Contains(filepath.Base(p), "training_args") {
				shards = append(shards, p)
			}
		}
		switch len(shards) {
		case 1:
			s.Format = "pytorch"
			err = s.openTorch(shards[0])
		case 0:
			err = fmt.Errorf("%s: no weights found (want model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json or one *.pt file)", dir)
		default:
			err = fmt.Errorf("%s: several weight files (%s) and no index naming them", dir, strings.Join(shards, ", "))
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	sort.Strings(s.names)
	return s, nil
}

func (s *Source) openSafetensors() error {
	ck, err := safetensors.OpenDir(s.Dir)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, ck.Close)
	s.Format = "safetensors"
	if ck.Sharded() {
		s.Format = "safetensors (sharded)"
	}
	for _, f := range ck.Files() {
		fh, err := os.Open(f.Path())
		if err != nil {
			return err
		}
		s.closers = append(s.closers, fh.Close)
		base := 8 + f.HeaderLen()
		path := f.Path()
		for _, info := range f.Tensors() {
			info := info
			t := &Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape, File: path, fh: fh, base: base + info.Begin}
			t.section = func(off, n int64) (io.Reader, func() error, error) {
				return io.NewSectionReader(fh, base+info.Begin+off, n), nop, nil
			}
			if err := s.add(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func nop() error { return nil }

func (s *Source) openTorch(path string) error {
	f, err := pytorch.Open(path)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, f.Close)
	for _, name := range f.Names() {
		pt, _ := f.Tensor(name)
		if !pt.DType().Valid() {
			return fmt.Errorf("%s: tensor %s has an unsupported dtype", path, name)
		}
		t := &Tensor{Name: name, DType: pt.DType(), Shape: pt.Shape(), File: path, section: pt.Section}
		if fh, off, ok := pt.FileRange(); ok {
			t.fh, t.base = fh, off
		}
		if err := s.add(t); err != nil {
			return err
		}
	}
	return nil
}

// openTorchIndex opens sharded pytorch_model-0000i-of-0000n.bin files named
// by pytorch_model.bin.index.json (same layout as the safetensors index).
func (s *Source) openTorchIndex(indexPath string) error {
	s.Format = "pytorch (sharded)"
	ix, err := safetensors.ReadIndex(indexPath)
	if err != nil {
		return err
	}
	for _, shard := range ix.Shards {
		p := filepath.Join(s.Dir, shard)
		before := len(s.names)
		if err := s.openTorch(p); err != nil {
			return err
		}
		for _, name := range s.names[before:] {
			if ix.WeightMap[name] != shard {
				return fmt.Errorf("%s: tensor %s is in %s but the index maps it to %q", indexPath, name, shard, ix.WeightMap[name])
			}
		}
	}
	for name, shard := range ix.WeightMap {
		if _, ok := s.tensors[name]; !ok {
			return fmt.Errorf("%s: tensor %s is mapped to %s, which does not hold it", indexPath, name, shard)
		}
	}
	return nil
}

// maxConfigSize bounds a config.json read from a source or verifier.
const maxConfigSize = 16 << 20

// readJSON reads a JSON object with numbers kept as json.Number.
func readJSON(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return m, nil
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}
