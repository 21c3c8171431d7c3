package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// File names used by transformers' save_pretrained.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// MaxIndexSize bounds model.safetensors.index.json.
const MaxIndexSize = 64 << 20

// Checkpoint is a directory holding either model.safetensors or shards plus
// model.safetensors.index.json, presented as one namespace of tensors.
type Checkpoint struct {
	dir    string
	files  []*File // in shard order
	owner  map[string]*File
	names  []string
	index  *Index // nil for a single file
	single bool
}

// Index is a parsed model.safetensors.index.json.
type Index struct {
	// Metadata holds the "metadata" object with numbers kept as written
	// (total_size, and total_parameters in newer transformers).
	Metadata  map[string]json.RawMessage
	WeightMap map[string]string
	// Shards lists the distinct shard files in the order of their names.
	Shards []string
}

// OpenDir opens dir/model.safetensors, or the shards named by
// dir/model.safetensors.index.json when there is no single file (the same
// precedence as transformers).
func OpenDir(dir string) (*Checkpoint, error) {
	single := filepath.Join(dir, SingleFileName)
	if st, err := os.Stat(single); err == nil && st.Mode().IsRegular() {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		c := &Checkpoint{dir: dir, files: []*File{f}, owner: map[string]*File{}, single: true}
		for _, n := range f.names {
			c.owner[n] = f
		}
		c.names = f.Names()
		return c, nil
	}
	idx := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: neither %s nor %s found", dir, SingleFileName, IndexFileName)
	}
	return OpenIndex(idx)
}

// OpenIndex opens a sharded checkpoint from its index file. Shards are
// resolved next to the index. Every weight_map entry must exist in its
// shard, and every tensor of a shard must be listed for that shard.
func OpenIndex(indexPath string) (*Checkpoint, error) {
	ix, err := ReadIndex(indexPath)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(indexPath)
	c := &Checkpoint{dir: dir, owner: map[string]*File{}, index: ix}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	byShard := map[string]*File{}
	for _, s := range ix.Shards {
		f, err := Open(filepath.Join(dir, s))
		if err != nil {
			return nil, fmt.Errorf("%w (shard listed in %s)", err, indexPath)
		}
		c.files = append(c.files, f)
		byShard[s] = f
		for _, n := range f.names {
			want, listed := ix.WeightMap[n]
			if !listed {
				return nil, fmt.Errorf("safetensors: %s: tensor %q is in shard %s but not in the weight_map", indexPath, n, s)
			}
			if want != s {
				return nil, fmt.Errorf("safetensors: %s: tensor %q is in shard %s but the weight_map puts it in %s", indexPath, n, s, want)
			}
			c.owner[n] = f
		}
	}
	for n, s := range ix.WeightMap {
		if _, found := byShard[s].byName[n]; !found {
			return nil, fmt.Errorf("safetensors: %s: tensor %q is listed for shard %s but that shard does not contain it", indexPath, n, s)
		}
	}
	c.names = make([]string, 0, len(c.owner))
	for n := range c.owner {
		c.names = append(c.names, n)
	}
	slices.Sort(c.names)
	ok = true
	return c, nil
}

// ReadIndex parses and checks an index file: bounded size, valid UTF-8
// JSON, no duplicate keys, shard names that are plain file names.
func ReadIndex(path string) (*Index, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	if st, err := fd.Stat(); err == nil && st.Size() > MaxIndexSize {
		return nil, fmt.Errorf("safetensors: %s: index is larger than %d bytes", path, MaxIndexSize)
	}
	data, err := io.ReadAll(io.LimitReader(fd, MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if len(data) > MaxIndexSize {
		return nil, fmt.Errorf("safetensors: %s: index is larger than %d bytes", path, MaxIndexSize)
	}
	ix, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return ix, nil
}

// ParseIndex parses the bytes of a model.safetensors.index.json.
func ParseIndex(data []byte) (*Index, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("index is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf("invalid index JSON: %v", err)
	}
	ix := &Index{}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid index JSON: %v", err)
		}
		k := kt.(string)
		if seen[k] {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		seen[k] = true
		switch k {
		case "metadata":
			if err := expectDelim(dec, '{'); err != nil {
				return nil, fmt.Errorf("metadata: %v", err)
			}
			ix.Metadata = map[string]json.RawMessage{}
			for dec.More() {
				mk, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("metadata: invalid JSON: %v", err)
				}
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil, fmt.Errorf("metadata: invalid JSON: %v", err)
				}
				if _, dup := ix.Metadata[mk.(string)]; dup {
					return nil, fmt.Errorf("metadata: duplicate key %q", mk)
				}
				ix.Metadata[mk.(string)] = raw
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("metadata: invalid JSON: %v", err)
			}
		case "weight_map":
			if err := expectDelim(dec, '{'); err != nil {
				return nil, fmt.Errorf("weight_map: %v", err)
			}
			ix.WeightMap = map[string]string{}
			for dec.More() {
				nt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("weight_map: invalid JSON: %v", err)
				}
				name := nt.(string)
				vt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("weight_map: invalid JSON: %v", err)
				}
				file, ok := vt.(string)
				if !ok {
					return nil, fmt.Errorf("weight_map[%q] must be a file name, found %s", name, tokenString(vt))
				}
				if _, dup := ix.WeightMap[name]; dup {
					return nil, fmt.Errorf("weight_map: tensor %q listed twice", name)
				}
				if err := checkShardName(file); err != nil {
					return nil, fmt.Errorf("weight_map[%q]: %v", name, err)
				}
				ix.WeightMap[name] = file
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("weight_map: invalid JSON: %v", err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("invalid index JSON: %v", err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid index JSON: %v", err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return nil, errors.New("invalid index JSON: trailing characters")
	}
	if ix.WeightMap == nil {
		return nil, errors.New("index has no weight_map")
	}
	set := map[string]bool{}
	for _, s := range ix.WeightMap {
		if !set[s] {
			set[s] = true
			ix.Shards = append(ix.Shards, s)
		}
	}
	slices.Sort(ix.Shards)
	return ix, nil
}

// checkShardName refuses anything but a plain file name in the index
// directory (no separators, no "..", no hidden temp files).
func checkShardName(s string) error {
	switch {
	case s == "" || s == "." || s == "..":
		return fmt.Errorf("invalid shard file name %q", s)
	case strings.ContainsAny(s, `/\`) || strings.ContainsRune(s, 0):
		return fmt.Errorf("shard file name %q must not contain a path separator", s)
	}
	return nil
}

// TotalSize returns metadata.total_size when it is an integer.
func (ix *Index) TotalSize() (int64, bool) { return ix.metaInt("total_size") }

// TotalParameters returns metadata.total_parameters when present.
func (ix *Index) TotalParameters() (int64, bool) { return ix.metaInt("total_parameters") }

func (ix *Index) metaInt(k string) (int64, bool) {
	raw, ok := ix.Metadata[k]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	return v, err == nil
}

// Close closes every file.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Dir is the checkpoint directory.
func (c *Checkpoint) Dir() string { return c.dir }

// Sharded reports whether the checkpoint came from an index.
func (c *Checkpoint) Sharded() bool { return !c.single }

// Index returns the parsed index (nil for a single file).
func (c *Checkpoint) Index() *Index { return c.index }

// Files lists the open files in shard order.
func (c *Checkpoint) Files() []*File { return slices.Clone(c.files) }

// FileOf returns the file holding a tensor.
func (c *Checkpoint) FileOf(name string) (*File, bool) {
	f, ok := c.owner[name]
	return f, ok
}

// Names lists every tensor name in byte order.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Info describes a tensor.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	f, ok := c.owner[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Metadata returns the __metadata__ of the first file (transformers writes
// the same {"format": "pt"} into every shard).
func (c *Checkpoint) Metadata() map[string]string {
	if len(c.files) == 0 {
		return nil
	}
	return c.files[0].Metadata()
}

func (c *Checkpoint) missing(name string) error {
	return fmt.Errorf("safetensors: %s: no tensor %q", c.dir, name)
}

// Bytes returns a read-only view of a tensor's bytes (see File.Bytes).
func (c *Checkpoint) Bytes(name string) ([]byte, error) {
	f, ok := c.owner[name]
	if !ok {
		return nil, c.missing(name)
	}
	return f.Bytes(name)
}

// Float32 decodes a float tensor (see File.Float32).
func (c *Checkpoint) Float32(name string) ([]float32, error) {
	f, ok := c.owner[name]
	if !ok {
		return nil, c.missing(name)
	}
	return f.Float32(name)
}

// Int64 decodes an integer or bool tensor (see File.Int64).
func (c *Checkpoint) Int64(name string) ([]int64, error) {
	f, ok := c.owner[name]
	if !ok {
		return nil, c.missing(name)
	}
	return f.Int64(name)
}

// ReadFloat32 decodes a float tensor into dst (see File.ReadFloat32).
func (c *Checkpoint) ReadFloat32(name string, dst []float32) error {
	f, ok := c.owner[name]
	if !ok {
		return c.missing(name)
	}
	return f.ReadFloat32(name, dst)
}

// ReadInt64 decodes an integer or bool tensor into dst (see File.ReadInt64).
func (c *Checkpoint) ReadInt64(name string, dst []int64) error {
	f, ok := c.owner[name]
	if !ok {
		return c.missing(name)
	}
	return f.ReadInt64(name, dst)
}
