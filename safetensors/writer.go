package safetensors

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/speculators-go/speculators/config"
)

// Tensor is one tensor to write. Its bytes come from Data, or (streaming,
// when Data is nil) from Write, which must write exactly
// NumElements*DType.Size() bytes in little-endian C order.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
	Write func(w io.Writer) error
}

// NumBytes is the size of the tensor's data (-1 if the shape overflows).
func (t *Tensor) NumBytes() int64 {
	n, ok := tensorBytes(t.DType, t.Shape)
	if !ok {
		return -1
	}
	return n
}

// FileOptions controls WriteFileOptions.
type FileOptions struct {
	// Metadata is written as __metadata__; nil writes none, an empty map
	// writes {} (as Python does for metadata={}).
	Metadata map[string]string
	// MetadataKeys orders the metadata keys; it must list each key once.
	// Empty means sorted. Python's order is that of a Rust HashMap, which
	// is arbitrary for more than one key; transformers writes only
	// {"format": "pt"}.
	MetadataKeys []string
	// Progress, when set, is called after each tensor with the bytes of
	// tensor data written so far and in total.
	Progress func(name string, done, total int64)
}

// WriteFile writes tensors to path atomically, with the same bytes as
// Python's safetensors.torch.save_file(tensors, path, metadata).
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	return WriteFileOptions(path, tensors, FileOptions{Metadata: metadata})
}

// WriteFileOptions is WriteFile with options.
func WriteFileOptions(path string, tensors []Tensor, opt FileOptions) error {
	infos, order, err := layout(tensors)
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	keys, err := metadataKeys(opt.Metadata, opt.MetadataKeys)
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	hdr := encodeHeader(infos, opt.Metadata, keys)
	if len(hdr) > MaxHeaderSize {
		return fmt.Errorf("safetensors: %s: header of %d bytes exceeds the %d-byte limit", path, len(hdr), MaxHeaderSize)
	}
	var total int64
	if len(infos) > 0 {
		total = infos[len(infos)-1].End
	}
	return writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		for i, ti := range infos {
			t := &tensors[order[i]]
			if err := writeTensor(w, t, ti.End-ti.Begin); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			if opt.Progress != nil {
				opt.Progress(t.Name, ti.End, total)
			}
		}
		return nil
	})
}

// layout validates tensors and returns their header entries in file order
// (dtype rank descending, then name, as the Rust `prepare` sorts) with
// contiguous offsets, and the index into tensors of each entry.
func layout(tensors []Tensor) ([]TensorInfo, []int, error) {
	seen := make(map[string]bool, len(tensors))
	order := make([]int, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if !t.DType.Valid() {
			return nil, nil, fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if !utf8.ValidString(t.Name) {
			return nil, nil, fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
		}
		if t.Name == "__metadata__" {
			return nil, nil, errors.New(`a tensor cannot be named "__metadata__"`)
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		for _, d := range t.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
		}
		n := t.NumBytes()
		if n < 0 {
			return nil, nil, fmt.Errorf("tensor %q: shape %v overflows", t.Name, t.Shape)
		}
		if t.Data == nil && t.Write == nil && n > 0 {
			return nil, nil, fmt.Errorf("tensor %q: neither Data nor Write is set", t.Name)
		}
		if t.Data != nil && int64(len(t.Data)) != n {
			return nil, nil, fmt.Errorf("tensor %q: Data has %d bytes, shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, n)
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := &tensors[a], &tensors[b]
		if ra, rb := ta.DType.rank(), tb.DType.rank(); ra != rb {
			return rb - ra
		}
		switch {
		case ta.Name < tb.Name:
			return -1
		case ta.Name > tb.Name:
			return 1
		}
		return 0
	})
	infos := make([]TensorInfo, len(order))
	var off int64
	for i, j := range order {
		t := &tensors[j]
		n := t.NumBytes()
		infos[i] = TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape, Begin: off, End: off + n}
		off += n
	}
	return infos, order, nil
}

func metadataKeys(meta map[string]string, keys []string) ([]string, error) {
	if meta == nil {
		if len(keys) > 0 {
			return nil, errors.New("MetadataKeys given without Metadata")
		}
		return nil, nil
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata %q is not valid UTF-8", k)
		}
	}
	if len(keys) == 0 {
		keys = make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys, nil
	}
	if len(keys) != len(meta) {
		return nil, fmt.Errorf("MetadataKeys lists %d keys, Metadata has %d", len(keys), len(meta))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if _, ok := meta[k]; !ok || seen[k] {
			return nil, fmt.Errorf("MetadataKeys: key %q missing from Metadata or repeated", k)
		}
		seen[k] = true
	}
	return keys, nil
}

// countWriter counts what a streaming tensor writes and refuses overruns,
// so a wrong Write callback cannot shift every later tensor.
type countWriter struct {
	w     io.Writer
	n     int64
	limit int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.limit {
		return 0, fmt.Errorf("Write produced more than the %d bytes its shape needs", c.limit)
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom lets io.Copy from a file range reach the output file's ReadFrom
// (copy_file_range on Linux), so converting a checkpoint copies tensor bytes
// inside the kernel instead of through user space.
func (c *countWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.w.(io.ReaderFrom)
	lr, isLimited := r.(*io.LimitedReader)
	if !ok || !isLimited || lr.N > c.limit-c.n {
		// The plain path: Write checks every chunk against the limit.
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	n, err := rf.ReadFrom(lr)
	c.n += n
	return n, err
}

func writeTensor(w io.Writer, t *Tensor, n int64) error {
	if t.Data != nil {
		_, err := w.Write(t.Data)
		return err
	}
	if n == 0 && t.Write == nil {
		return nil
	}
	cw := &countWriter{w: w, limit: n}
	if err := t.Write(cw); err != nil {
		return err
	}
	if cw.n != n {
		return fmt.Errorf("Write produced %d bytes, shape %v of %s needs %d", cw.n, t.Shape, t.DType, n)
	}
	return nil
}

// writeAtomic writes path through a hidden temporary file in the same
// directory, fsyncs it, renames it into place and fsyncs the directory. On
// any error the temporary file is removed and path is left untouched.
func writeAtomic(path string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(&writebackWriter{f: tmp}, 4<<20)
	if err := fill(bw); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: %s: fsync: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return syncDir(dir)
}

// writebackWriter starts writeback every writebackChunk bytes (see
// startWriteback); on a 1 GB file this halved the time to a durable file
// in an interleaved A/B test here.
type writebackWriter struct {
	f            *os.File
	off, started int64
}

const writebackChunk = 32 << 20

// writebackEnabled is switched off only by the A/B benchmark.
var writebackEnabled = true

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if writebackEnabled && w.off-w.started >= writebackChunk {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
	return n, err
}

// ReadFrom passes file ranges to the file's own ReadFrom (copy_file_range).
func (w *writebackWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.f.ReadFrom(r)
	w.off += n
	if writebackEnabled && w.off-w.started >= writebackChunk {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("safetensors: fsync %s: %w", dir, err)
	}
	return nil
}

// WriteAtomic writes data to path with the same temp-fsync-rename
// discipline as the tensor writers (for config.json and other side files).
func WriteAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// DirOptions controls WriteDirOptions.
type DirOptions struct {
	// Metadata and MetadataKeys go into every file (see FileOptions).
	// transformers writes {"format": "pt"}.
	Metadata     map[string]string
	MetadataKeys []string
	// MaxShardSize in bytes; <= 0 writes one model.safetensors.
	MaxShardSize int64
	// Shards, when set, fixes the assignment of tensors (indices into the
	// tensors slice) to shard files instead of splitting by MaxShardSize;
	// one shard writes model.safetensors. resave uses it to keep a
	// checkpoint's layout.
	Shards [][]int
	// ShardMetadata, when set with Shards, gives each shard its own
	// metadata (Metadata/MetadataKeys of each FileOptions), so a copy can
	// keep per-file key orders.
	ShardMetadata []FileOptions
	// TotalParameters > 0 adds "total_parameters" to the index metadata,
	// as transformers >= 4.56 does (it counts parameters, not buffers).
	TotalParameters int64
	// Progress is called after each tensor with the bytes written so far
	// over all files and the total.
	Progress func(file, name string, done, total int64)
}

// WriteDir writes tensors into dir as transformers' save_pretrained does:
// one model.safetensors, or (maxShardSize > 0 and more than one shard
// needed) model-0000i-of-0000n.safetensors plus model.safetensors.index.json.
// The tensors slice order plays the role of the state-dict order.
func WriteDir(dir string, tensors []Tensor, metadata map[string]string, maxShardSize int64) error {
	return WriteDirOptions(dir, tensors, DirOptions{Metadata: metadata, MaxShardSize: maxShardSize})
}

// PlanShards splits tensors (in slice order) like huggingface_hub's
// split_state_dict_into_shards_factory: tensors are added to the current
// shard until the next one would exceed maxShardSize; a tensor larger than
// maxShardSize gets a shard of its own, appended immediately while the
// current shard stays open (so it comes before that shard).
func PlanShards(tensors []Tensor, maxShardSize int64) [][]int {
	if maxShardSize <= 0 {
		all := make([]int, len(tensors))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	var shards [][]int
	var cur []int
	var curSize int64
	for i := range tensors {
		n := tensors[i].NumBytes()
		if n > maxShardSize {
			shards = append(shards, []int{i})
			continue
		}
		if curSize+n > maxShardSize {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, i)
		curSize += n
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}
	return shards
}

// ShardFileName is transformers' name for shard i (0-based) of n.
func ShardFileName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

var shardRe = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// WriteDirOptions is WriteDir with options. Shard files are written first
// and the index last, each atomically; stale shards and a stale index from
// an earlier save into dir are removed afterwards.
func WriteDirOptions(dir string, tensors []Tensor, opt DirOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	shards := opt.Shards
	if shards == nil {
		shards = PlanShards(tensors, opt.MaxShardSize)
	}
	// Check the assignment and the tensors before writing anything.
	used := make([]bool, len(tensors))
	for _, s := range shards {
		for _, i := range s {
			if i < 0 || i >= len(tensors) || used[i] {
				return fmt.Errorf("safetensors: %s: shard plan uses tensor index %d twice or out of range", dir, i)
			}
			used[i] = true
		}
	}
	for i, u := range used {
		if !u {
			return fmt.Errorf("safetensors: %s: shard plan leaves out tensor %q", dir, tensors[i].Name)
		}
	}
	if _, _, err := layout(tensors); err != nil {
		return fmt.Errorf("safetensors: %s: %w", dir, err)
	}
	if opt.ShardMetadata != nil && len(opt.ShardMetadata) != len(shards) {
		return fmt.Errorf("safetensors: %s: ShardMetadata has %d entries for %d shards", dir, len(opt.ShardMetadata), len(shards))
	}
	var total int64
	for i := range tensors {
		total += tensors[i].NumBytes()
	}
	names := make([]string, len(shards))
	for i := range shards {
		if len(shards) == 1 {
			names[i] = SingleFileName
		} else {
			names[i] = ShardFileName(i, len(shards))
		}
	}
	var base int64
	for si, s := range shards {
		part := make([]Tensor, len(s))
		for j, i := range s {
			part[j] = tensors[i]
		}
		fo := FileOptions{Metadata: opt.Metadata, MetadataKeys: opt.MetadataKeys}
		if opt.ShardMetadata != nil {
			fo.Metadata, fo.MetadataKeys = opt.ShardMetadata[si].Metadata, opt.ShardMetadata[si].MetadataKeys
		}
		if opt.Progress != nil {
			file, off := names[si], base
			fo.Progress = func(name string, done, _ int64) { opt.Progress(file, name, off+done, total) }
		}
		if err := WriteFileOptions(filepath.Join(dir, names[si]), part, fo); err != nil {
			return err
		}
		for _, i := range s {
			base += tensors[i].NumBytes()
		}
	}
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	if len(shards) > 1 {
		weightMap := map[string]string{}
		for si, s := range shards {
			for _, i := range s {
				weightMap[tensors[i].Name] = names[si]
			}
		}
		data := EncodeIndex(total, opt.TotalParameters, weightMap)
		if err := WriteAtomic(filepath.Join(dir, IndexFileName), data); err != nil {
			return err
		}
		keep[IndexFileName] = true
	}
	// Remove what an earlier save left behind so the directory has one
	// consistent checkpoint.
	stale := []string{IndexFileName, SingleFileName}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	for _, e := range entries {
		if shardRe.MatchString(e.Name()) {
			stale = append(stale, e.Name())
		}
	}
	for _, n := range stale {
		if keep[n] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("safetensors: removing stale %s: %w", n, err)
		}
	}
	return nil
}

// EncodeIndex returns model.safetensors.index.json as transformers writes
// it: json.dumps({"metadata": {...}, "weight_map": {...}}, indent=2,
// sort_keys=True) + "\n". totalParameters <= 0 leaves total_parameters out
// (transformers before 4.56).
func EncodeIndex(totalSize, totalParameters int64, weightMap map[string]string) []byte {
	var b []byte
	b = append(b, "{\n  \"metadata\": {\n"...)
	if totalParameters > 0 {
		b = append(b, "    \"total_parameters\": "...)
		b = strconv.AppendInt(b, totalParameters, 10)
		b = append(b, ",\n"...)
	}
	b = append(b, "    \"total_size\": "...)
	b = strconv.AppendInt(b, totalSize, 10)
	b = append(b, "\n  },\n  \"weight_map\": {"...)
	names := make([]string, 0, len(weightMap))
	for n := range weightMap {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = config.AppendPyString(b, n, true)
		b = append(b, ": "...)
		b = config.AppendPyString(b, weightMap[n], true)
	}
	if len(names) > 0 {
		b = append(b, "\n  "...)
	}
	b = append(b, "}\n}\n"...)
	return b
}
