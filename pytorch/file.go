package pytorch

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/safetensors"
)

// maxStorageBytes bounds one storage (64 GiB); maxEntries bounds the archive.
const (
	maxStorageBytes = 64 << 30
	maxEntries      = 1 << 20
)

// legacyMagic starts a pre-1.6 torch.save file: the pickled magic number
// 0x1950a86a20f9469cfc6c as a protocol-2 LONG1.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// File is an open PyTorch zip checkpoint whose pickle named a state dict.
type File struct {
	path     string
	f        *os.File    // nil when reading from memory
	r        io.ReaderAt // the archive bytes
	zr       *zip.Reader
	entries  map[string]*zip.File // storage key -> entry
	prefix   string
	names    []string
	tensors  map[string]*Tensor
	storages map[string]*storageRef
}

// Tensor is one tensor of a checkpoint: a view (offset, shape, stride in
// elements) of a storage held in the archive.
type Tensor struct {
	Name    string
	storage *storageRef
	offset  int64
	shape   []int64
	stride  []int64
	file    *File
}

// DType is the tensor's element type in safetensors spelling.
func (t *Tensor) DType() safetensors.DType { return safetensors.DType(t.storage.dtype) }

// Shape returns the tensor's dimensions.
func (t *Tensor) Shape() []int64 { return append([]int64(nil), t.shape...) }

// NumElements is the product of the shape.
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// NumBytes is the size of the tensor's contiguous bytes.
func (t *Tensor) NumBytes() int64 { return t.NumElements() * int64(t.DType().Size()) }

// Contiguous reports whether the view is C-contiguous in its storage, in
// which case its bytes are one range of the storage.
func (t *Tensor) Contiguous() bool {
	want := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.shape[i]
	}
	return true
}

// checkView verifies that the view lies inside its storage.
func (t *Tensor) checkView() error {
	const limit = int64(1) << 52
	if t.offset < 0 || t.offset > t.storage.numel {
		return fmt.Errorf("storage offset %d outside storage %s of %d elements", t.offset, t.storage.key, t.storage.numel)
	}
	n := int64(1)
	last := t.offset
	for i, d := range t.shape {
		if d < 0 || t.stride[i] < 0 {
			return fmt.Errorf("negative size or stride (size %v, stride %v)", t.shape, t.stride)
		}
		if d > limit || t.stride[i] > limit {
			return fmt.Errorf("size or stride too large (size %v, stride %v)", t.shape, t.stride)
		}
		if d != 0 && n > limit/d {
			return fmt.Errorf("size %v overflows", t.shape)
		}
		n *= d
	}
	if n == 0 {
		return nil
	}
	for i, d := range t.shape {
		if d > 1 && t.stride[i] > (limit-last)/(d-1) {
			return fmt.Errorf("stride %v overflows", t.stride)
		}
		last += (d - 1) * t.stride[i]
	}
	if last >= t.storage.numel {
		return fmt.Errorf("view (offset %d, size %v, stride %v) reaches element %d of storage %s, which has %d", t.offset, t.shape, t.stride, last, t.storage.key, t.storage.numel)
	}
	return nil
}

// Open reads the pickle of a torch zip checkpoint and resolves its state dict.
// The state dict is the top-level dict when every value is a tensor, else the
// first dict found under "state_dict", "model_state_dict", "model" or
// "module" (recursively). Storage bytes are not read.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pytorch: %w", err)
	}
	tf, err := open(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pytorch: %s: %w", path, err)
	}
	tf.f = f
	return tf, nil
}

// open reads an archive of size bytes from r; name labels errors.
func open(name string, r io.ReaderAt, size int64) (*File, error) {
	head := make([]byte, len(legacyMagic))
	n, _ := r.ReadAt(head, 0)
	if n == len(legacyMagic) && bytes.Equal(head, legacyMagic) {
		return nil, errors.New("legacy (pre-1.6, non-zip) torch serialization is not supported; re-save it with a newer PyTorch (torch.save writes the zip format by default since 1.6) or convert it to safetensors")
	}
	if n >= 2 && head[0] == 0x80 {
		return nil, errors.New("a bare pickle, not a torch zip checkpoint; refusing to read it")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a torch zip checkpoint: %w", err)
	}
	if len(zr.File) > maxEntries {
		return nil, fmt.Errorf("%d zip entries (at most %d)", len(zr.File), maxEntries)
	}
	tf := &File{path: name, r: r, zr: zr, entries: map[string]*zip.File{}, tensors: map[string]*Tensor{}, storages: map[string]*storageRef{}}
	var pkl *zip.File
	for _, e := range zr.File {
		dir, base := path.Split(e.Name)
		if base == "data.pkl" && strings.Count(e.Name, "/") == 1 {
			if pkl != nil {
				return nil, fmt.Errorf("two pickles in the archive (%s, %s)", pkl.Name, e.Name)
			}
			pkl = e
			tf.prefix = dir
		}
	}
	if pkl == nil {
		return nil, errors.New("no <name>/data.pkl in the zip archive: not a torch checkpoint")
	}
	for _, e := range zr.File {
		if !strings.HasPrefix(e.Name, tf.prefix) {
			continue
		}
		rest := e.Name[len(tf.prefix):]
		if k, ok := strings.CutPrefix(rest, "data/"); ok && k != "" && !strings.Contains(k, "/") {
			tf.entries[k] = e
		}
		if rest == "byteorder" {
			b, err := readEntry(e, 16)
			if err != nil {
				return nil, err
			}
			if s := strings.TrimSpace(string(b)); s != "little" {
				return nil, fmt.Errorf("byteorder %q: only little-endian checkpoints are supported", s)
			}
		}
	}
	if pkl.UncompressedSize64 > maxPickle {
		return nil, fmt.Errorf("%s is %d bytes (at most %d)", pkl.Name, pkl.UncompressedSize64, maxPickle)
	}
	data, err := readEntry(pkl, maxPickle)
	if err != nil {
		return nil, err
	}
	u := &unpickler{data: data, persist: tf.persistentLoad}
	obj, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	sd, err := findStateDict(obj, 0)
	if err != nil {
		return nil, err
	}
	for i, k := range sd.keys {
		name := k.(string)
		t := sd.vals[i].(*Tensor)
		if t.Name != "" { // the same tensor object under two names
			c := *t
			t = &c
		}
		t.Name = name
		t.file = tf
		tf.tensors[name] = t
		tf.names = append(tf.names, name)
	}
	sort.Strings(tf.names)
	return tf, nil
}

func readEntry(e *zip.File, limit int64) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", e.Name, limit)
	}
	return b, nil
}

// persistentLoad resolves ('storage', torch.XStorage, key, location, numel).
func (tf *File) persistentLoad(pid any) (any, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("%w: persistent id %s is not a 5-tuple ('storage', type, key, location, numel)", ErrUnsafe, typeName(pid))
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("%w: persistent id of kind %v, want 'storage'", ErrUnsafe, t[0])
	}
	g, ok := t[1].(global)
	if !ok || g.module != "torch" || storageDTypes[g.name] == "" {
		return nil, fmt.Errorf("%w: storage type %s is not a known torch storage", ErrUnsafe, typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is a %s", typeName(t[2]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %s: bad element count %v", key, t[4])
	}
	dt := storageDTypes[g.name]
	if s, ok := tf.storages[key]; ok {
		if s.dtype != dt || s.numel != numel {
			return nil, fmt.Errorf("storage %s named twice with different types", key)
		}
		return s, nil
	}
	e, ok := tf.entries[key]
	if !ok {
		return nil, fmt.Errorf("storage %s: no entry %sdata/%s in the archive", key, tf.prefix, key)
	}
	size := int64(safetensors.DType(dt).Size())
	if numel > maxStorageBytes/size {
		return nil, fmt.Errorf("storage %s: %d elements exceeds the %d-byte limit", key, numel, int64(maxStorageBytes))
	}
	if e.UncompressedSize64 != uint64(numel*size) {
		return nil, fmt.Errorf("storage %s: %d elements of %s need %d bytes, the archive entry has %d", key, numel, g.name, numel*size, e.UncompressedSize64)
	}
	s := &storageRef{key: key, dtype: dt, numel: numel}
	tf.storages[key] = s
	return s, nil
}

var stateDictKeys = []string{"state_dict", "model_state_dict", "model", "module"}

func findStateDict(obj any, depth int) (*dict, error) {
	d, ok := obj.(*dict)
	if !ok {
		return nil, fmt.Errorf("the pickle holds a %s, not a state dict", typeName(obj))
	}
	if depth > 8 {
		return nil, errors.New("state dict nested too deep")
	}
	all := len(d.keys) > 0
	for i, k := range d.keys {
		if _, ok := k.(string); !ok {
			all = false
			break
		}
		if _, ok := d.vals[i].(*Tensor); !ok {
			all = false
			break
		}
	}
	if all {
		return d, nil
	}
	for _, k := range stateDictKeys {
		if v, ok := d.get(k); ok {
			if _, isDict := v.(*dict); isDict {
				return findStateDict(v, depth+1)
			}
		}
	}
	if flat := flattenTensorLists(d); flat != nil {
		return flat, nil
	}
	var keys []string
	for i, k := range d.keys {
		if len(keys) == 10 {
			keys = append(keys, "...")
			break
		}
		keys = append(keys, fmt.Sprintf("%v (%s)", k, typeName(d.vals[i])))
	}
	return nil, fmt.Errorf("no state dict of tensors found: top-level keys %s", strings.Join(keys, ", "))
}

// flattenTensorLists accepts a dict whose values are tensors or lists
// (tuples) of tensors, as older per-sample hidden-state files hold
// ({"input_ids": t, "hidden_states": [t0, t1, ...]}), naming list entry i
// of key k "k.i". It returns nil for any other shape of dict.
func flattenTensorLists(d *dict) *dict {
	out := newDict()
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil
		}
		var items []any
		switch v := d.vals[i].(type) {
		case *Tensor:
			if out.set(name, v) != nil {
				return nil
			}
			continue
		case *list:
			items = v.items
		case tuple:
			items = v
		default:
			return nil
		}
		if len(items) == 0 {
			return nil
		}
		for j, it := range items {
			t, ok := it.(*Tensor)
			if !ok || out.set(name+"."+strconv.Itoa(j), t) != nil {
				return nil
			}
		}
	}
	if len(out.keys) == 0 {
		return nil
	}
	return out
}

// Close closes the file.
func (tf *File) Close() error {
	if tf.f == nil {
		return nil
	}
	return tf.f.Close()
}

// Path is the path given to Open.
func (tf *File) Path() string { return tf.path }

// Names lists the tensor names in byte order.
func (tf *File) Names() []string { return append([]string(nil), tf.names...) }

// Tensor returns a tensor by name.
func (tf *File) Tensor(name string) (*Tensor, bool) {
	t, ok := tf.tensors[name]
	return t, ok
}

// storageSection returns a reader of n bytes at byte offset off of a
// storage. Stored (uncompressed) entries are read in place; compressed ones
// are decompressed from the start.
func (tf *File) storageSection(s *storageRef, off, n int64) (io.Reader, func() error, error) {
	e := tf.entries[s.key]
	if e.Method == zip.Store {
		do, err := e.DataOffset()
		if err != nil {
			return nil, nil, fmt.Errorf("storage %s: %w", s.key, err)
		}
		return io.NewSectionReader(tf.r, do+off, n), func() error { return nil }, nil
	}
	rc, err := e.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("storage %s: %w", s.key, err)
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("storage %s: %w", s.key, err)
	}
	return io.LimitReader(rc, n), rc.Close, nil
}

// Section returns a reader of n bytes starting at byte off of the tensor's
// contiguous (C-order) data. Contiguous tensors are read in place; others are
// gathered into memory first.
func (t *Tensor) Section(off, n int64) (io.Reader, func() error, error) {
	if off < 0 || n < 0 || off+n > t.NumBytes() {
		return nil, nil, fmt.Errorf("pytorch: %s: section [%d,+%d) outside %d bytes", t.Name, off, n, t.NumBytes())
	}
	if t.Contiguous() {
		es := int64(t.DType().Size())
		return t.file.storageSection(t.storage, t.offset*es+off, n)
	}
	b, err := t.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return bytes.NewReader(b[off : off+n]), func() error { return nil }, nil
}

// WriteTo streams the tensor's bytes in C order to w.
func (t *Tensor) WriteTo(w io.Writer) (int64, error) {
	r, closer, err := t.Section(0, t.NumBytes())
	if err != nil {
		return 0, err
	}
	defer closer()
	n, err := io.Copy(w, r)
	if err == nil && n != t.NumBytes() {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("pytorch: %s: read %s: %w", t.file.path, t.Name, err)
	}
	return n, nil
}

// Bytes returns the tensor's C-order bytes in a new slice (non-contiguous
// views are gathered).
func (t *Tensor) Bytes() ([]byte, error) {
	es := int64(t.DType().Size())
	if t.NumElements() == 0 {
		return []byte{}, nil
	}
	if t.Contiguous() {
		var buf bytes.Buffer
		buf.Grow(int(t.NumBytes()))
		if _, err := t.WriteTo(&buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	// Read the span of the storage the view touches, then gather.
	last := t.offset
	for i, d := range t.shape {
		last += (d - 1) * t.stride[i]
	}
	span := (last - t.offset + 1) * es
	r, closer, err := t.file.storageSection(t.storage, t.offset*es, span)
	if err != nil {
		return nil, err
	}
	defer closer()
	src := make([]byte, span)
	if _, err := io.ReadFull(bufio.NewReader(r), src); err != nil {
		return nil, fmt.Errorf("pytorch: %s: read %s: %w", t.file.path, t.Name, err)
	}
	out := make([]byte, 0, t.NumBytes())
	var gather func(dim int, base int64)
	gather = func(dim int, base int64) {
		if dim == len(t.shape) {
			out = append(out, src[base*es:(base+1)*es]...)
			return
		}
		for i := int64(0); i < t.shape[dim]; i++ {
			gather(dim+1, base+i*t.stride[dim])
		}
	}
	gather(0, 0)
	return out, nil
}

// FileRange reports where a contiguous tensor's bytes lie in the checkpoint
// file when its storage is stored uncompressed (as torch.save writes it), so
// a caller can copy them without reading them into memory (copy_file_range).
// The file must only be read positionally (ReadAt) by others while a caller
// uses its offset.
func (t *Tensor) FileRange() (f *os.File, offset int64, ok bool) {
	e := t.file.entries[t.storage.key]
	if t.file.f == nil || !t.Contiguous() || e.Method != zip.Store {
		return nil, 0, false
	}
	do, err := e.DataOffset()
	if err != nil {
		return nil, 0, false
	}
	return t.file.f, do + t.offset*int64(t.DType().Size()), true
}
