package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is a safetensors element type as spelled in the header.
type DType string

// The element types this package reads and writes. F8/U16/U32/U64/C64 are
// accepted so that checkpoints using them can be copied (resave), but only
// the types below convert to float32 or int64.
const (
	BOOL DType = "BOOL"
	U8   DType = "U8"
	I8   DType = "I8"
	I16  DType = "I16"
	U16  DType = "U16"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I32  DType = "I32"
	U32  DType = "U32"
	F32  DType = "F32"
	F64  DType = "F64"
	I64  DType = "I64"
	U64  DType = "U64"

	F8E5M2     DType = "F8_E5M2"
	F8E4M3     DType = "F8_E4M3"
	F8E8M0     DType = "F8_E8M0"
	F8E4M3FNUZ DType = "F8_E4M3FNUZ"
	F8E5M2FNUZ DType = "F8_E5M2FNUZ"
	C64        DType = "C64"
)

// dtypeInfo holds the element size and the rank of a dtype in the Rust
// enum (safetensors/src/tensor.rs `enum Dtype`), whose derived Ord decides
// the order of tensors in a file: the writer sorts by descending rank, then
// by name. Sub-byte types (F4, F6_*) are not supported.
var dtypeInfo = map[DType]struct{ size, rank int }{
	BOOL:       {1, 0},
	U8:         {1, 4},
	I8:         {1, 5},
	F8E5M2:     {1, 6},
	F8E4M3:     {1, 7},
	F8E8M0:     {1, 8},
	F8E4M3FNUZ: {1, 9},
	F8E5M2FNUZ: {1, 10},
	I16:        {2, 11},
	U16:        {2, 12},
	F16:        {2, 13},
	BF16:       {2, 14},
	I32:        {4, 15},
	U32:        {4, 16},
	F32:        {4, 17},
	C64:        {8, 18},
	F64:        {8, 19},
	I64:        {8, 20},
	U64:        {8, 21},
}

// Valid reports whether d is a dtype this package knows.
func (d DType) Valid() bool { _, ok := dtypeInfo[d]; return ok }

// Size returns the bytes per element (0 for an unknown dtype).
func (d DType) Size() int { return dtypeInfo[d].size }

// IsFloat reports whether d is one of the floating-point types that convert
// to and from float32 (F16, BF16, F32, F64). F8 types are not included:
// casting them needs their scales, which this package does not know.
func (d DType) IsFloat() bool { return d == F16 || d == BF16 || d == F32 || d == F64 }

// IsInt reports whether d converts to int64 (I64/I32/I16/I8/U8/BOOL).
func (d DType) IsInt() bool {
	switch d {
	case I64, I32, I16, I8, U8, BOOL:
		return true
	}
	return false
}

func (d DType) rank() int { return dtypeInfo[d].rank }

// ParseDType accepts a safetensors spelling ("BF16") or a torch name
// ("bfloat16", "torch.float16", "float", "half").
func ParseDType(s string) (DType, error) {
	if DType(s).Valid() {
		return DType(s), nil
	}
	switch s {
	case "bfloat16", "torch.bfloat16", "bf16":
		return BF16, nil
	case "float16", "torch.float16", "half", "fp16", "f16":
		return F16, nil
	case "float32", "torch.float32", "float", "fp32", "f32":
		return F32, nil
	case "float64", "torch.float64", "double", "fp64", "f64":
		return F64, nil
	case "int64", "torch.int64", "long":
		return I64, nil
	case "int32", "torch.int32", "int":
		return I32, nil
	case "int16", "torch.int16", "short":
		return I16, nil
	case "int8", "torch.int8":
		return I8, nil
	case "uint8", "torch.uint8":
		return U8, nil
	case "bool", "torch.bool":
		return BOOL, nil
	}
	return "", fmt.Errorf("safetensors: unknown dtype %q", s)
}

// TorchName is the torch spelling ("bfloat16") used in config.json.
func (d DType) TorchName() string {
	switch d {
	case BF16:
		return "bfloat16"
	case F16:
		return "float16"
	case F32:
		return "float32"
	case F64:
		return "float64"
	case I64:
		return "int64"
	case I32:
		return "int32"
	case I16:
		return "int16"
	case I8:
		return "int8"
	case U8:
		return "uint8"
	case BOOL:
		return "bool"
	}
	return string(d)
}

// BF16ToFloat32 widens a bfloat16 bit pattern exactly.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBF16 rounds to nearest, ties to even, as torch's .to(bfloat16)
// does. Every NaN becomes 0xffff, as torch's vectorized CPU cast writes it
// (its scalar path writes 0x7fc0; both are NaN).
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return 0xffff
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToFloat32 widens an IEEE binary16 bit pattern exactly.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: value is mant * 2^-24, exact in float32.
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}

// Float32ToF16 rounds to nearest, ties to even (overflow gives ±Inf, NaN
// becomes sign|0x7e00), as torch's .to(float16) does.
func Float32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		return sign | 0x7e00
	case a >= 0x477ff000: // rounds to >= 65520: Inf
		return sign | 0x7c00
	case a >= 0x38800000: // normal half (>= 2^-14)
		// Rebias exponent (127 -> 15) and round the 13 dropped bits.
		a -= 112 << 23
		a += 0xfff + (a>>13)&1
		return sign | uint16(a>>13)
	case a < 0x33000000: // below half of the smallest subnormal (2^-25): zero
		return sign
	}
	// Subnormal half: shift the full significand so that one unit is 2^-24.
	e := a >> 23
	m := a&0x7fffff | 0x800000
	shift := 126 - e // value = m * 2^(e-150); unit 2^-24 => shift by 126-e
	r := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}

// EncodeFloat32 converts src to little-endian bytes of dst (F32, F16, BF16
// or F64).
func EncodeFloat32(dst DType, src []float32) ([]byte, error) {
	if !dst.IsFloat() {
		return nil, fmt.Errorf("safetensors: cannot encode float32 as %s", dst)
	}
	out := make([]byte, len(src)*dst.Size())
	encodeFloat32Into(dst, out, src)
	return out, nil
}

// encodeFloat32Into writes len(src) elements of dst into out (sized by the
// caller).
func encodeFloat32Into(dst DType, out []byte, src []float32) {
	switch dst {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case BF16:
		if encodeBF16Fast(out, src) {
			return
		}
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], Float32ToBF16(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], Float32ToF16(v))
		}
	case F64:
		for i, v := range src {
			binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(float64(v)))
		}
	default:
		panic("safetensors: encodeFloat32Into " + string(dst))
	}
}

// decodeFloat32 converts n elements of src (dtype d) into dst.
func decodeFloat32(d DType, dst []float32, src []byte) {
	if decodeFloat32Fast(d, dst, src) {
		return
	}
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		panic("safetensors: decodeFloat32 " + string(d))
	}
}

// decodeInt64 converts the elements of src (dtype d) into dst.
func decodeInt64(d DType, dst []int64, src []byte) {
	switch d {
	case I64:
		for i := range dst {
			dst[i] = int64(binary.LittleEndian.Uint64(src[8*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = int64(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	case I16:
		for i := range dst {
			dst[i] = int64(int16(binary.LittleEndian.Uint16(src[2*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = int64(int8(src[i]))
		}
	case U8, BOOL:
		for i := range dst {
			dst[i] = int64(src[i])
		}
	default:
		panic("safetensors: decodeInt64 " + string(d))
	}
}
