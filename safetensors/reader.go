package safetensors

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"unsafe"
)

// MaxFileSize bounds a single file (1 TiB) so that a hostile size cannot
// overflow offset arithmetic or exhaust the address space.
const MaxFileSize = 1 << 40

// File is one memory-mapped .safetensors file. Tensors are decoded on
// demand; Bytes returns views into the mapping that stay valid until Close.
// A File is safe for concurrent readers.
type File struct {
	path      string
	mmap      []byte // whole file; nil for an empty data section
	size      int64
	dataStart int64
	hdr       *header
	byName    map[string]int
	names     []string // sorted
	mu        sync.RWMutex
	closed    bool
}

// Open maps path and validates its header. The file may be replaced or
// deleted while open (the mapping keeps the old contents), but it must not
// be truncated in place.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, too small for the 8-byte header length", path, size)
	}
	if size > MaxFileSize {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, above the %d-byte limit", path, size, int64(MaxFileSize))
	}
	var lenBuf [8]byte
	if _, err := fd.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	n, err := headerLen(path, lenBuf, size)
	if err != nil {
		return nil, err
	}
	hbuf := make([]byte, n)
	if _, err := fd.ReadAt(hbuf, 8); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header: %w", path, err)
	}
	dataStart := 8 + int64(n)
	hdr, err := parseHeader(path, hbuf, size-dataStart)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, size: size, dataStart: dataStart, hdr: hdr}
	f.byName = make(map[string]int, len(hdr.tensors))
	f.names = make([]string, 0, len(hdr.tensors))
	for i, t := range hdr.tensors {
		f.byName[t.Name] = i
		f.names = append(f.names, t.Name)
	}
	slices.Sort(f.names)
	if size > dataStart {
		m, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %s: mmap: %w", path, err)
		}
		f.mmap = m
	}
	return f, nil
}

// headerLen checks the 8-byte length prefix against the file size.
func headerLen(path string, prefix [8]byte, size int64) (int64, error) {
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return 0, fmt.Errorf("safetensors: %s: header length %d exceeds the %d-byte limit", path, n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return 0, fmt.Errorf("safetensors: %s: header length %d runs past the end of the %d-byte file", path, n, size)
	}
	return int64(n), nil
}

// parseBuffer validates a whole file held in memory (used by the fuzzer;
// Open does the same from the file).
func parseBuffer(path string, b []byte) (*header, int64, error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("safetensors: %s: file is %d bytes, too small for the 8-byte header length", path, len(b))
	}
	n, err := headerLen(path, [8]byte(b[:8]), int64(len(b)))
	if err != nil {
		return nil, 0, err
	}
	h, err := parseHeader(path, b[8:8+n], int64(len(b))-8-n)
	return h, 8 + n, err
}

// Close unmaps the file. Views returned by Bytes become invalid.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.mmap != nil {
		m := f.mmap
		f.mmap = nil
		if err := syscall.Munmap(m); err != nil {
			return fmt.Errorf("safetensors: %s: munmap: %w", f.path, err)
		}
	}
	return nil
}

// Path is the path given to Open.
func (f *File) Path() string { return f.path }

// Size is the file size in bytes.
func (f *File) Size() int64 { return f.size }

// HeaderLen is the length of the JSON header (without the 8-byte prefix).
func (f *File) HeaderLen() int64 { return f.dataStart - 8 }

// Names lists the tensor names in byte order.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Tensors lists the tensors in the order of their data in the file.
func (f *File) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(f.hdr.tensors))
	for i, t := range f.hdr.tensors {
		t.Shape = slices.Clone(t.Shape)
		out[i] = t
	}
	return out
}

// Info describes one tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.hdr.tensors[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}

// Metadata returns a copy of __metadata__ (nil if the header has none).
func (f *File) Metadata() map[string]string {
	if !f.hdr.hasMeta {
		return nil
	}
	m := make(map[string]string, len(f.hdr.meta))
	for k, v := range f.hdr.meta {
		m[k] = v
	}
	return m
}

// MetadataKeys lists the __metadata__ keys in the order of the file, so a
// copy can reproduce the header byte for byte.
func (f *File) MetadataKeys() []string { return slices.Clone(f.hdr.metaKeys) }

// Bytes returns the raw little-endian bytes of a tensor as a read-only view
// into the mapping, valid until Close. Writing to it faults.
func (f *File) Bytes(name string) ([]byte, error) {
	i, ok := f.byName[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, fmt.Errorf("safetensors: %s: file is closed", f.path)
	}
	t := f.hdr.tensors[i]
	if t.End == t.Begin {
		return []byte{}, nil
	}
	return f.mmap[f.dataStart+t.Begin : f.dataStart+t.End : f.dataStart+t.End], nil
}

// Float32 decodes a F32/F16/BF16/F64 tensor into a new slice.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	dst := make([]float32, t.NumElements())
	return dst, f.ReadFloat32(name, dst)
}

// ReadFloat32 decodes a F32/F16/BF16/F64 tensor into dst, which must have
// exactly NumElements entries. Loading into preallocated weights this way
// skips the zeroing of a fresh slice, which costs as much as the decode.
func (f *File) ReadFloat32(name string, dst []float32) error {
	t, ok := f.Info(name)
	if !ok {
		return fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	if !t.DType.IsFloat() {
		return fmt.Errorf("safetensors: %s: tensor %q: dtype %s is not a float type", f.path, name, t.DType)
	}
	if int64(len(dst)) != t.NumElements() {
		return fmt.Errorf("safetensors: %s: tensor %q has %d elements, destination %d", f.path, name, t.NumElements(), len(dst))
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("safetensors: %s: file is closed", f.path)
	}
	if len(dst) == 0 {
		return nil
	}
	src := f.mmap[f.dataStart+t.Begin : f.dataStart+t.End]
	sz := t.DType.Size()
	parallelChunks(len(dst), func(lo, hi int) {
		decodeFloat32(t.DType, dst[lo:hi], src[lo*sz:hi*sz])
	})
	return nil
}

// Float32View returns a zero-copy read-only view of an F32 tensor (false
// for other dtypes). The data section of every file written by Python or
// this package is 4-byte aligned; the view is refused otherwise.
func (f *File) Float32View(name string) ([]float32, bool) {
	t, ok := f.Info(name)
	if !ok || t.DType != F32 {
		return nil, false
	}
	b, err := f.Bytes(name)
	if err != nil || len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

// Int64 decodes an I64/I32/I16/I8/U8/BOOL tensor into a new slice.
func (f *File) Int64(name string) ([]int64, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	dst := make([]int64, t.NumElements())
	return dst, f.ReadInt64(name, dst)
}

// ReadInt64 decodes an I64/I32/I16/I8/U8/BOOL tensor into dst, which must
// have exactly NumElements entries.
func (f *File) ReadInt64(name string, dst []int64) error {
	t, ok := f.Info(name)
	if !ok {
		return fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	if !t.DType.IsInt() {
		return fmt.Errorf("safetensors: %s: tensor %q: dtype %s is not an integer or bool type", f.path, name, t.DType)
	}
	if int64(len(dst)) != t.NumElements() {
		return fmt.Errorf("safetensors: %s: tensor %q has %d elements, destination %d", f.path, name, t.NumElements(), len(dst))
	}
	src, err := f.Bytes(name)
	if err != nil {
		return err
	}
	decodeInt64(t.DType, dst, src)
	return nil
}

// parallelChunks splits [0,n) across GOMAXPROCS goroutines when n is large
// enough for the split to pay off (decoding is memory-bound).
func parallelChunks(n int, fn func(lo, hi int)) {
	const minChunk = 1 << 18
	workers := min(runtime.GOMAXPROCS(0), n/minChunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
