package safetensors

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// benchTensors builds total bytes of BF16/F32/I64 tensors shaped like a
// draft checkpoint (mostly large BF16 matrices).
func benchTensors(total int64) []Tensor {
	r := rand.New(rand.NewPCG(7, 7))
	var ts []Tensor
	var have int64
	for i := 0; have < total; i++ {
		d := BF16
		switch i % 8 {
		case 3:
			d = F32
		case 7:
			d = F16
		}
		rows := int64(4096)
		cols := min(int64(2048), (total-have)/(rows*int64(d.Size()))+1)
		t := Tensor{Name: fmt.Sprintf("layers.%d.weight", i), DType: d, Shape: []int64{rows, cols}}
		vals := make([]float32, rows*cols)
		for j := range vals {
			vals[j] = float32(r.NormFloat64())
		}
		t.Data, _ = EncodeFloat32(d, vals)
		have += int64(len(t.Data))
		ts = append(ts, t)
	}
	d2t := make([]byte, 8*32000)
	ts = append(ts, Tensor{Name: "d2t", DType: I64, Shape: []int64{32000}, Data: d2t})
	return ts
}

// readAll maps path and decodes every tensor. With bufs non-nil the
// decode goes into preallocated destinations (bufs[name]), as a loader
// filling existing weights does.
func readAll(b testing.TB, path string, bufs map[string][]float32) int64 {
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var n int64
	for _, name := range f.Names() {
		ti, _ := f.Info(name)
		if ti.DType.IsFloat() && bufs != nil {
			dst := bufs[name]
			if dst == nil {
				dst = make([]float32, ti.NumElements())
				bufs[name] = dst
			}
			if err := f.ReadFloat32(name, dst); err != nil {
				b.Fatal(err)
			}
			n += int64(len(dst))
		} else if ti.DType.IsFloat() {
			v, err := f.Float32(name)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(v))
		} else {
			v, err := f.Int64(name)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(v))
		}
	}
	return n
}

// touchAll maps path and reads every byte of every tensor through the
// zero-copy views (what a consumer of Bytes does), returning a checksum.
func touchAll(b testing.TB, path string) uint64 {
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var sum uint64
	for _, name := range f.Names() {
		v, err := f.Bytes(name)
		if err != nil {
			b.Fatal(err)
		}
		for len(v) >= 8 {
			sum ^= binary.LittleEndian.Uint64(v)
			v = v[8:]
		}
		for _, c := range v {
			sum ^= uint64(c)
		}
	}
	return sum
}

// BenchmarkRead: mmap a 64 MB file and convert every tensor to float32
// (ints to int64). Warm page cache.
func BenchmarkRead(b *testing.B) {
	ts := benchTensors(64 << 20)
	p := filepath.Join(b.TempDir(), "m.safetensors")
	if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(p)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		readAll(b, p, nil)
	}
}

// BenchmarkReadInto: as BenchmarkRead, decoding into preallocated slices.
func BenchmarkReadInto(b *testing.B) {
	ts := benchTensors(64 << 20)
	p := filepath.Join(b.TempDir(), "m.safetensors")
	if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(p)
	bufs := map[string][]float32{}
	readAll(b, p, bufs)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		readAll(b, p, bufs)
	}
}

// BenchmarkWrite: atomic 64 MB write including fsync.
func BenchmarkWrite(b *testing.B) {
	ts := benchTensors(64 << 20)
	p := filepath.Join(b.TempDir(), "m.safetensors")
	var size int64
	for i := range ts {
		size += ts[i].NumBytes()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloat32ToBF16(b *testing.B) {
	src := make([]float32, 1<<20)
	for i := range src {
		src[i] = float32(i) * 1e-3
	}
	dst := make([]byte, 2*len(src))
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		encodeFloat32Into(BF16, dst, src)
	}
}

func BenchmarkBF16ToFloat32(b *testing.B) {
	src := make([]byte, 2<<20)
	dst := make([]float32, 1<<20)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		decodeFloat32(BF16, dst, src)
	}
}

// TestThroughputVsCp measures, in one run and on one disk, the write and
// read throughput of a large checkpoint as a ratio to cp of the same file
// (median of 3, or SAFETENSORS_BENCH_ROUNDS). Set SAFETENSORS_BENCH_MB
// (e.g. 1100) and optionally SAFETENSORS_BENCH_DIR;
// scripts/bench_safetensors.sh does both.
func TestThroughputVsCp(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("SAFETENSORS_BENCH_MB"))
	if mb <= 0 {
		t.Skip("set SAFETENSORS_BENCH_MB to run (scripts/bench_safetensors.sh)")
	}
	dir := os.Getenv("SAFETENSORS_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "stbench"); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	ts := benchTensors(int64(mb) << 20)
	p := filepath.Join(dir, "model.safetensors")
	cpDst := filepath.Join(dir, "copy.safetensors")
	timeIt := func(fn func()) float64 {
		start := time.Now()
		fn()
		return time.Since(start).Seconds()
	}
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	// Each timed step starts from a synced disk and writes a fresh file,
	// as cp does; round 0 warms up and is not counted.
	rounds := 3
	if n, _ := strconv.Atoi(os.Getenv("SAFETENSORS_BENCH_ROUNDS")); n > 0 {
		rounds = n
	}
	var wr, wrNoWB, rd, rdInto, rdView, cp, cpSync []float64
	ab := os.Getenv("SAFETENSORS_BENCH_AB") != ""
	defer func() { writebackEnabled = true }()
	bufs := map[string][]float32{}
	for round := range rounds + 1 {
		os.Remove(p)
		run("sync")
		w := timeIt(func() {
			if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
				t.Fatal(err)
			}
		})
		var wn float64
		if ab { // the same write without early writeback
			os.Remove(p)
			run("sync")
			writebackEnabled = false
			wn = timeIt(func() {
				if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
					t.Fatal(err)
				}
			})
			writebackEnabled = true
		}
		run("sync")
		c := timeIt(func() { run("cp", p, cpDst) })
		os.Remove(cpDst)
		run("sync")
		cs := timeIt(func() { run("cp", p, cpDst); run("sync", cpDst) })
		os.Remove(cpDst)
		run("sync")
		r := timeIt(func() { readAll(t, p, nil) })
		ri := timeIt(func() { readAll(t, p, bufs) })
		rv := timeIt(func() { touchAll(t, p) })
		if round > 0 {
			wr, cp, cpSync, rd, rdInto = append(wr, w), append(cp, c), append(cpSync, cs), append(rd, r), append(rdInto, ri)
			wrNoWB, rdView = append(wrNoWB, wn), append(rdView, rv)
		}
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	st, _ := os.Stat(p)
	gb := float64(st.Size()) / 1e9
	t.Logf("file %.2f GB; medians of %d (s): write %.3f, read+convert %.3f, read+convert into buffers %.3f, cp %.3f, cp+fsync %.3f",
		gb, rounds, med(wr), med(rd), med(rdInto), med(cp), med(cpSync))
	t.Logf("throughput GB/s: write %.2f, read %.2f, read into buffers %.2f, cp %.2f, cp+fsync %.2f",
		gb/med(wr), gb/med(rd), gb/med(rdInto), gb/med(cp), gb/med(cpSync))
	t.Logf("RATIOS (throughput vs cp): write %.2fx cp, %.2fx cp+fsync; read %.2fx cp (Float32), %.2fx cp (ReadFloat32 into buffers), %.2fx cp (Bytes views, every byte read)",
		med(cp)/med(wr), med(cpSync)/med(wr), med(cp)/med(rd), med(cp)/med(rdInto), med(cp)/med(rdView))
	if ab {
		t.Logf("A/B: write with early writeback %.3f s, without %.3f s (medians); raw without %.3f", med(wr), med(wrNoWB), wrNoWB)
	}
	t.Logf("raw s: write %.3f read %.3f readInto %.3f readViews %.3f cp %.3f cp+fsync %.3f", wr, rd, rdInto, rdView, cp, cpSync)
}

// BenchmarkOpenLargeHeader: parsing and validating a 20k-tensor header.
func BenchmarkOpenLargeHeader(b *testing.B) {
	var ts []Tensor
	for i := range 20000 {
		ts = append(ts, Tensor{Name: fmt.Sprintf("model.layers.%d.mlp.experts.%d.weight", i/100, i%100), DType: BF16, Shape: []int64{2, 2}, Data: make([]byte, 8)})
	}
	p := filepath.Join(b.TempDir(), "m.safetensors")
	if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	f, _ := Open(p)
	b.SetBytes(f.HeaderLen())
	f.Close()
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
