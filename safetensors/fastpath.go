package safetensors

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"
)

// On little-endian hosts with aligned data (every file Python or this
// package writes: the data section is 8-aligned and tensors are sorted by
// descending alignment) decoding reads the mapping through typed slices.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func aligned(b []byte, n uintptr) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%n == 0
}

var (
	f16TableOnce sync.Once
	f16Table     []float32 // all 65536 half values
)

func f16LUT() []float32 {
	f16TableOnce.Do(func() {
		f16Table = make([]float32, 1<<16)
		for i := range f16Table {
			f16Table[i] = F16ToFloat32(uint16(i))
		}
	})
	return f16Table
}

// decodeFloat32Fast handles the common cases; it reports false when the
// portable loop must run instead.
func decodeFloat32Fast(d DType, dst []float32, src []byte) bool {
	if !littleEndian || len(dst) == 0 {
		return false
	}
	switch d {
	case F32:
		if !aligned(src, 4) {
			return false
		}
		copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(&src[0])), len(dst)))
		return true
	case BF16:
		if !aligned(src, 2) {
			return false
		}
		s := unsafe.Slice((*uint16)(unsafe.Pointer(&src[0])), len(dst))
		out := unsafe.Slice((*uint32)(unsafe.Pointer(&dst[0])), len(dst))
		out = out[:len(s)]
		for i, v := range s {
			out[i] = uint32(v) << 16
		}
		return true
	case F16:
		if !aligned(src, 2) {
			return false
		}
		lut := f16LUT()
		s := unsafe.Slice((*uint16)(unsafe.Pointer(&src[0])), len(dst))
		dst = dst[:len(s)]
		for i, v := range s {
			dst[i] = lut[v]
		}
		return true
	case F64:
		if !aligned(src, 8) {
			return false
		}
		s := unsafe.Slice((*float64)(unsafe.Pointer(&src[0])), len(dst))
		dst = dst[:len(s)]
		for i, v := range s {
			dst[i] = float32(v)
		}
		return true
	}
	return false
}

// encodeBF16Fast is Float32ToBF16 over a slice.
func encodeBF16Fast(out []byte, src []float32) bool {
	if !littleEndian || len(src) == 0 || !aligned(out, 2) {
		return false
	}
	o := unsafe.Slice((*uint16)(unsafe.Pointer(&out[0])), len(src))
	o = o[:len(src)]
	for i, f := range src {
		u := math.Float32bits(f)
		if u&0x7fffffff > 0x7f800000 {
			o[i] = 0xffff
			continue
		}
		o[i] = uint16((u + 0x7fff + (u>>16)&1) >> 16)
	}
	return true
}
