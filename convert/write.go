package convert

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/speculators-go/speculators/safetensors"
)

// Output is one tensor of a converted checkpoint: the concatenation of byte
// ranges (pieces) of source tensors, all of dtype DType, with shape Shape.
// Renames, splits (fused qkv, gate_up), column truncation and expert fusion
// are all expressed as pieces, so writing streams from the source files.
type Output struct {
	Name   string
	DType  safetensors.DType
	Shape  []int64
	Pieces []Piece
}

// Piece is n bytes at byte offset off of a source tensor.
type Piece struct {
	T      *Tensor
	Off, N int64
}

// Sources names the source tensors an output is built from.
func (o *Output) Sources() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range o.Pieces {
		if !seen[p.T.Name] {
			seen[p.T.Name] = true
			out = append(out, p.T.Name)
		}
	}
	return out
}

func (o *Output) numBytes() int64 { return numel(o.Shape) * int64(o.DType.Size()) }

// whole is an output that copies t under a new name.
func whole(name string, t *Tensor) Output {
	return Output{Name: name, DType: t.DType, Shape: append([]int64(nil), t.Shape...), Pieces: []Piece{{t, 0, t.NumBytes()}}}
}

// rowRange is rows [r0, r1) of dim 0 of t.
func rowRange(name string, t *Tensor, r0, r1 int64) Output {
	rowBytes := t.NumBytes() / max(t.Shape[0], 1)
	shape := append([]int64{r1 - r0}, t.Shape[1:]...)
	return Output{Name: name, DType: t.DType, Shape: shape, Pieces: []Piece{{t, r0 * rowBytes, (r1 - r0) * rowBytes}}}
}

// colRange is columns [c0, c1) of a 2-D tensor: one piece per row.
func colRange(name string, t *Tensor, c0, c1 int64) Output {
	es := int64(t.DType.Size())
	rows, cols := t.Shape[0], t.Shape[1]
	o := Output{Name: name, DType: t.DType, Shape: []int64{rows, c1 - c0}}
	for r := int64(0); r < rows; r++ {
		o.Pieces = append(o.Pieces, Piece{t, (r*cols + c0) * es, (c1 - c0) * es})
	}
	return o
}

// cast describes the dtype the output's float tensors are written in ("" keeps
// each tensor's own dtype).
func outDType(o *Output, cast safetensors.DType) safetensors.DType {
	if cast != "" && o.DType.IsFloat() {
		return cast
	}
	return o.DType
}

// chunkBytes is the streaming buffer: writing never holds more than this
// much of a tensor (plus the converted copy) beyond what the OS caches.
// 128 KiB reads measured about 2x faster end to end than 4 MiB ones on a
// 1.9 GB conversion here (scripts/bench_convert.sh), and use less memory.
const chunkBytes = 128 << 10

// tensors turns outputs into streaming safetensors tensors.
func tensors(outs []Output, cast safetensors.DType) []safetensors.Tensor {
	ts := make([]safetensors.Tensor, len(outs))
	for i := range outs {
		o := &outs[i]
		dst := outDType(o, cast)
		ts[i] = safetensors.Tensor{Name: o.Name, DType: dst, Shape: o.Shape, Write: func(w io.Writer) error {
			return writePieces(w, o, dst)
		}}
	}
	return ts
}

func writePieces(w io.Writer, o *Output, dst safetensors.DType) error {
	var total int64
	for _, p := range o.Pieces {
		total += p.N
	}
	if total != o.numBytes() {
		return fmt.Errorf("%s: pieces hold %d bytes, shape %v of %s needs %d", o.Name, total, o.Shape, o.DType, o.numBytes())
	}
	buf := make([]byte, chunkBytes)
	var conv []byte
	if dst != o.DType {
		conv = make([]byte, chunkBytes/o.DType.Size()*dst.Size())
	}
	es := o.DType.Size()
	rf, canReadFrom := w.(io.ReaderFrom)
	for _, p := range o.Pieces {
		if conv == nil && canReadFrom && p.T.fh != nil {
			// Kernel copy (copy_file_range) of an unconverted range. The
			// source handle's offset is only used here, by one writer.
			if _, err := p.T.fh.Seek(p.T.base+p.Off, io.SeekStart); err != nil {
				return fmt.Errorf("%s: seek %s: %w", p.T.File, p.T.Name, err)
			}
			n, err := rf.ReadFrom(io.LimitReader(p.T.fh, p.N))
			if err == nil && n != p.N {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return fmt.Errorf("%s: copy %s: %w", p.T.File, p.T.Name, err)
			}
			continue
		}
		r, closer, err := p.T.Section(p.Off, p.N)
		if err != nil {
			return err
		}
		for left := p.N; left > 0; {
			n := int64(len(buf))
			n -= n % int64(es)
			if left < n {
				n = left
			}
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				closer()
				return fmt.Errorf("%s: read %s: %w", p.T.File, p.T.Name, err)
			}
			out := buf[:n]
			if conv != nil {
				out = convertFloat(conv, buf[:n], o.DType, dst)
			}
			if _, err := w.Write(out); err != nil {
				closer()
				return err
			}
			left -= n
		}
		if err := closer(); err != nil {
			return err
		}
	}
	return nil
}

// convertFloat converts little-endian floats of src dtype into dst (both
// among F32/F16/BF16/F64), rounding to nearest even as torch's .to() does;
// F64 narrows through float32.
func convertFloat(dstBuf, src []byte, from, to safetensors.DType) []byte {
	n := len(src) / from.Size()
	out := dstBuf[:n*to.Size()]
	switch {
	case from == safetensors.BF16 && to == safetensors.F32:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(out[4*i:], uint32(binary.LittleEndian.Uint16(src[2*i:]))<<16)
		}
		return out
	case from == safetensors.F16 && to == safetensors.BF16:
		t := f16ToBF16Table()
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(out[2*i:], t[binary.LittleEndian.Uint16(src[2*i:])])
		}
		return out
	case from == safetensors.BF16 && to == safetensors.F16:
		t := bf16ToF16Table()
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(out[2*i:], t[binary.LittleEndian.Uint16(src[2*i:])])
		}
		return out
	case from == safetensors.F32 && to == safetensors.BF16:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(out[2*i:], f32ToBF16(binary.LittleEndian.Uint32(src[4*i:])))
		}
		return out
	}
	for i := 0; i < n; i++ {
		var f float32
		switch from {
		case safetensors.F32:
			f = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		case safetensors.F16:
			f = f16Table[binary.LittleEndian.Uint16(src[2*i:])]
		case safetensors.BF16:
			f = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		case safetensors.F64:
			f = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
		switch to {
		case safetensors.F32:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
		case safetensors.F16:
			binary.LittleEndian.PutUint16(out[2*i:], safetensors.Float32ToF16(f))
		case safetensors.BF16:
			binary.LittleEndian.PutUint16(out[2*i:], f32ToBF16(math.Float32bits(f)))
		case safetensors.F64:
			if from == safetensors.F64 {
				copy(out[8*i:8*i+8], src[8*i:8*i+8])
			} else {
				binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(float64(f)))
			}
		}
	}
	return out
}

// f32ToBF16 is safetensors.Float32ToBF16 inlined for the hot loop (round to
// nearest even; NaN becomes 0xffff); TestCast checks they agree.
func f32ToBF16(b uint32) uint16 {
	if b&0x7fffffff > 0x7f800000 {
		return 0xffff
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// Direct 16-bit to 16-bit tables: every F16 pattern widened exactly and
// rounded to BF16, and the reverse; built on first use.
var (
	f16ToBF16Table = sync.OnceValue(func() *[65536]uint16 {
		var t [65536]uint16
		for i := range t {
			t[i] = f32ToBF16(math.Float32bits(f16Table[i]))
		}
		return &t
	})
	bf16ToF16Table = sync.OnceValue(func() *[65536]uint16 {
		var t [65536]uint16
		for i := range t {
			t[i] = safetensors.Float32ToF16(math.Float32frombits(uint32(i) << 16))
		}
		return &t
	})
)

// f16Table widens every half bit pattern.
var f16Table = func() (t [65536]float32) {
	for i := range t {
		t[i] = safetensors.F16ToFloat32(uint16(i))
	}
	return
}()
