package safetensors

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The fast paths agree with the portable ones on every F16 value and on
// random bit patterns (the goldens tie the portable ones to torch).
func TestFastPathsMatchPortable(t *testing.T) {
	lut := f16LUT()
	for i := range 1 << 16 {
		want := F16ToFloat32(uint16(i))
		if math.Float32bits(lut[i]) != math.Float32bits(want) {
			t.Fatalf("f16 %#04x: lut %v, want %v", i, lut[i], want)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]float32, 1<<16)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
	}
	out := make([]byte, 2*len(src))
	if !encodeBF16Fast(out, src) {
		t.Skip("no fast path on this host")
	}
	for i, v := range src {
		if got, want := binary.LittleEndian.Uint16(out[2*i:]), Float32ToBF16(v); got != want {
			t.Fatalf("bf16 of %#08x: fast %#04x, portable %#04x", math.Float32bits(v), got, want)
		}
	}
}

// A large tensor (decoded by several goroutines) and a misaligned data
// section (the Rust reader accepts unpadded headers) decode the same.
func TestDecodeLargeAndMisaligned(t *testing.T) {
	n := 3<<18 + 5
	r := rand.New(rand.NewPCG(8, 9))
	raw := make([]byte, 2*n)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "big.safetensors")
	if err := WriteFile(p, []Tensor{{Name: "w", DType: BF16, Shape: []int64{int64(n)}, Data: raw}}, nil); err != nil {
		t.Fatal(err)
	}
	check := func(path string) {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got, err := f.Float32("w")
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			want := BF16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("%s element %d: %v, want %v", path, i, got[i], want)
			}
		}
	}
	check(p)
	// Unpadded 57-byte header: the data starts at an odd offset.
	hdr := `{"w":{"dtype":"BF16","shape":[` + strconv.Itoa(n) + `],"data_offsets":[0,` + strconv.Itoa(2*n) + `]}}`
	for len(hdr)%2 == 0 {
		hdr += " "
	}
	q := filepath.Join(dir, "odd.safetensors")
	if err := os.WriteFile(q, append(rawFile(hdr, 0, -1), raw...), 0o644); err != nil {
		t.Fatal(err)
	}
	check(q)
}
