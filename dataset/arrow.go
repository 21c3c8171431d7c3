package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// Arrow IPC streams are what Hugging Face datasets keeps in its cache
// (<name>-<split>.arrow) and what Dataset.save_to_disk writes
// (data-0000k-of-0000n.arrow). readArrowStream decodes the subset those
// files use: a schema message, then record batches of null, bool, integer,
// float, (large) utf8/binary, (large) list, fixed-size list and struct
// columns, uncompressed. Anything else (dictionaries, compressed bodies,
// unions, ...) is an error naming what was found. The flatbuffers metadata
// is parsed by hand, with every offset bounds-checked.

const (
	maxArrowMeta = 64 << 20
	maxArrowBody = 4 << 30
)

var errArrow = errors.New("invalid Arrow IPC stream")

// fb is a flatbuffers table: the buffer and the table's position.
type fb struct {
	b   []byte
	pos int
	err *error
}

func (t fb) fail(format string, args ...any) {
	if *t.err == nil {
		*t.err = fmt.Errorf("%w: %s", errArrow, fmt.Sprintf(format, args...))
	}
}

func (t fb) u32(at int) uint32 {
	if at < 0 || at+4 > len(t.b) {
		t.fail("offset %d out of range", at)
		return 0
	}
	return binary.LittleEndian.Uint32(t.b[at:])
}

// field returns the absolute position of field i, or 0 when absent.
func (t fb) field(i int) int {
	if *t.err != nil {
		return 0
	}
	vt := t.pos - int(int32(t.u32(t.pos)))
	if vt < 0 || vt+4 > len(t.b) {
		t.fail("vtable out of range")
		return 0
	}
	vsize := int(binary.LittleEndian.Uint16(t.b[vt:]))
	if 4+2*i+2 > vsize || vt+4+2*i+2 > len(t.b) {
		return 0
	}
	off := int(binary.LittleEndian.Uint16(t.b[vt+4+2*i:]))
	if off == 0 {
		return 0
	}
	return t.pos + off
}

func (t fb) scalar(i, size int) uint64 {
	p := t.field(i)
	if p == 0 {
		return 0
	}
	if p+size > len(t.b) {
		t.fail("scalar out of range")
		return 0
	}
	switch size {
	case 1:
		return uint64(t.b[p])
	case 2:
		return uint64(binary.LittleEndian.Uint16(t.b[p:]))
	case 4:
		return uint64(binary.LittleEndian.Uint32(t.b[p:]))
	default:
		return binary.LittleEndian.Uint64(t.b[p:])
	}
}

// ref follows an offset field to its target position (0 when absent).
func (t fb) ref(i int) int {
	p := t.field(i)
	if p == 0 {
		return 0
	}
	q := p + int(t.u32(p))
	if q <= 0 || q >= len(t.b) {
		t.fail("reference out of range")
		return 0
	}
	return q
}

func (t fb) table(i int) (fb, bool) {
	q := t.ref(i)
	return fb{t.b, q, t.err}, q != 0
}

func (t fb) str(i int) string {
	q := t.ref(i)
	if q == 0 {
		return ""
	}
	n := int(t.u32(q))
	if q+4+n > len(t.b) || n < 0 {
		t.fail("string out of range")
		return ""
	}
	return string(t.b[q+4 : q+4+n])
}

// vec returns the element count and the position of the first element.
func (t fb) vec(i int) (int, int) {
	q := t.ref(i)
	if q == 0 {
		return 0, 0
	}
	n := int(t.u32(q))
	if n < 0 || n > len(t.b) {
		t.fail("vector length out of range")
		return 0, 0
	}
	return n, q + 4
}

func (t fb) vecTable(i, k int) fb {
	_, start := t.vec(i)
	p := start + 4*k
	return fb{t.b, p + int(t.u32(p)), t.err}
}

// arrowField is a column schema.
type arrowField struct {
	name     string
	typ      int // flatbuffers Type union tag
	bitWidth int
	signed   bool
	fixed    int // FixedSizeList size
	children []arrowField
}

const (
	arrowNull = 1 + iota
	arrowInt
	arrowFloat
	arrowBinary
	arrowUtf8
	arrowBool
	arrowDecimal
	arrowDate
	arrowTime
	arrowTimestamp
	arrowInterval
	arrowList
	arrowStruct
	arrowUnion
	arrowFixedSizeBinary
	arrowFixedSizeList
	arrowMap
	arrowDuration
	arrowLargeBinary
	arrowLargeUtf8
	arrowLargeList
)

func parseField(t fb, depth int) (arrowField, error) {
	if depth > 32 {
		return arrowField{}, fmt.Errorf("%w: schema nested too deep", errArrow)
	}
	f := arrowField{name: t.str(0), typ: int(t.scalar(2, 1))}
	if _, ok := t.table(4); ok {
		return f, fmt.Errorf("column %q is dictionary-encoded, which is not supported", f.name)
	}
	tt, _ := t.table(3)
	switch f.typ {
	case arrowInt:
		f.bitWidth, f.signed = int(int32(tt.scalar(0, 4))), tt.scalar(1, 1) != 0
		if f.bitWidth != 8 && f.bitWidth != 16 && f.bitWidth != 32 && f.bitWidth != 64 {
			return f, fmt.Errorf("%w: column %q has integer width %d", errArrow, f.name, f.bitWidth)
		}
	case arrowFloat:
		switch tt.scalar(0, 2) {
		case 1:
			f.bitWidth = 32
		case 2:
			f.bitWidth = 64
		default:
			return f, fmt.Errorf("column %q is half-precision float, which is not supported", f.name)
		}
	case arrowFixedSizeList:
		f.fixed = int(int32(tt.scalar(0, 4)))
		if f.fixed < 0 {
			return f, fmt.Errorf("%w: column %q has fixed size %d", errArrow, f.name, f.fixed)
		}
	case arrowNull, arrowBinary, arrowUtf8, arrowBool, arrowList, arrowStruct, arrowLargeBinary, arrowLargeUtf8, arrowLargeList:
	default:
		return f, fmt.Errorf("column %q has Arrow type %d, which is not supported (supported: null, bool, int, float, string, binary, list, struct)", f.name, f.typ)
	}
	n, _ := t.vec(5)
	for k := 0; k < n; k++ {
		c, err := parseField(t.vecTable(5, k), depth+1)
		if err != nil {
			return f, err
		}
		f.children = append(f.children, c)
	}
	switch f.typ {
	case arrowList, arrowLargeList, arrowFixedSizeList:
		if len(f.children) != 1 {
			return f, fmt.Errorf("%w: list column %q has %d children", errArrow, f.name, len(f.children))
		}
	}
	return f, *t.err
}

// batchReader walks the field nodes and buffers of one record batch.
type batchReader struct {
	meta    fb
	body    []byte
	node    int
	buf     int
	nNodes  int
	nodesAt int
	nBufs   int
	bufsAt  int
}

func (r *batchReader) nextNode() (length, nulls int, err error) {
	if r.node >= r.nNodes {
		return 0, 0, fmt.Errorf("%w: record batch has too few field nodes", errArrow)
	}
	p := r.nodesAt + 16*r.node
	if p+16 > len(r.meta.b) {
		return 0, 0, fmt.Errorf("%w: field node out of range", errArrow)
	}
	r.node++
	l := int64(binary.LittleEndian.Uint64(r.meta.b[p:]))
	nc := int64(binary.LittleEndian.Uint64(r.meta.b[p+8:]))
	// A node cannot hold more values than its buffers have bits (plus some
	// slack for null and struct columns, which may have no buffers), so a
	// corrupt length cannot make us allocate beyond the input's size.
	if l < 0 || nc < 0 || nc > l || l > int64(8*len(r.body)+1<<16) {
		return 0, 0, fmt.Errorf("%w: field node length %d, nulls %d", errArrow, l, nc)
	}
	return int(l), int(nc), nil
}

func (r *batchReader) nextBuf() ([]byte, error) {
	if r.buf >= r.nBufs {
		return nil, fmt.Errorf("%w: record batch has too few buffers", errArrow)
	}
	p := r.bufsAt + 16*r.buf
	if p+16 > len(r.meta.b) {
		return nil, fmt.Errorf("%w: buffer descriptor out of range", errArrow)
	}
	r.buf++
	off := int64(binary.LittleEndian.Uint64(r.meta.b[p:]))
	l := int64(binary.LittleEndian.Uint64(r.meta.b[p+8:]))
	if off < 0 || l < 0 || off+l > int64(len(r.body)) || off+l < off {
		return nil, fmt.Errorf("%w: buffer [%d, +%d) outside the %d-byte body", errArrow, off, l, len(r.body))
	}
	return r.body[off : off+l], nil
}

// column decodes one field's array of n values into Go values (nil, bool,
// int64, float64, string, []byte, []any, map[string]any).
func (r *batchReader) column(f arrowField) ([]any, error) {
	n, nulls, err := r.nextNode()
	if err != nil {
		return nil, err
	}
	out := make([]any, n)
	if f.typ == arrowNull {
		return out, nil
	}
	validity, err := r.nextBuf()
	if err != nil {
		return nil, err
	}
	if nulls > 0 && len(validity)*8 < n {
		return nil, fmt.Errorf("%w: column %q validity bitmap too short", errArrow, f.name)
	}
	valid := func(i int) bool { return nulls == 0 || validity[i>>3]&(1<<(i&7)) != 0 }
	offsets := func(large bool, data []byte) ([]int, error) {
		w := 4
		if large {
			w = 8
		}
		if n > 0 && len(data) < (n+1)*w {
			return nil, fmt.Errorf("%w: column %q offsets too short", errArrow, f.name)
		}
		o := make([]int, n+1)
		for i := 0; i <= n && n > 0; i++ {
			var v int64
			if large {
				v = int64(binary.LittleEndian.Uint64(data[i*8:]))
			} else {
				v = int64(int32(binary.LittleEndian.Uint32(data[i*4:])))
			}
			if v < 0 || (i > 0 && v < int64(o[i-1])) || v > math.MaxInt32*16 {
				return nil, fmt.Errorf("%w: column %q has bad offset %d", errArrow, f.name, v)
			}
			o[i] = int(v)
		}
		return o, nil
	}
	switch f.typ {
	case arrowBool:
		data, err := r.nextBuf()
		if err != nil {
			return nil, err
		}
		if len(data)*8 < n {
			return nil, fmt.Errorf("%w: column %q data too short", errArrow, f.name)
		}
		for i := range out {
			if valid(i) {
				out[i] = data[i>>3]&(1<<(i&7)) != 0
			}
		}
	case arrowInt, arrowFloat:
		data, err := r.nextBuf()
		if err != nil {
			return nil, err
		}
		w := f.bitWidth / 8
		if len(data) < n*w {
			return nil, fmt.Errorf("%w: column %q data too short", errArrow, f.name)
		}
		for i := range out {
			if !valid(i) {
				continue
			}
			d := data[i*w:]
			switch {
			case f.typ == arrowFloat && w == 4:
				out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(d)))
			case f.typ == arrowFloat:
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(d))
			case w == 1 && f.signed:
				out[i] = int64(int8(d[0]))
			case w == 1:
				out[i] = int64(d[0])
			case w == 2 && f.signed:
				out[i] = int64(int16(binary.LittleEndian.Uint16(d)))
			case w == 2:
				out[i] = int64(binary.LittleEndian.Uint16(d))
			case w == 4 && f.signed:
				out[i] = int64(int32(binary.LittleEndian.Uint32(d)))
			case w == 4:
				out[i] = int64(binary.LittleEndian.Uint32(d))
			case f.signed:
				out[i] = int64(binary.LittleEndian.Uint64(d))
			default:
				v := binary.LittleEndian.Uint64(d)
				if v > math.MaxInt64 {
					return nil, fmt.Errorf("column %q holds %d, beyond int64", f.name, v)
				}
				out[i] = int64(v)
			}
		}
	case arrowUtf8, arrowBinary, arrowLargeUtf8, arrowLargeBinary:
		ob, err := r.nextBuf()
		if err != nil {
			return nil, err
		}
		data, err := r.nextBuf()
		if err != nil {
			return nil, err
		}
		o, err := offsets(f.typ == arrowLargeUtf8 || f.typ == arrowLargeBinary, ob)
		if err != nil {
			return nil, err
		}
		for i := range out {
			if !valid(i) {
				continue
			}
			if o[i+1] > len(data) {
				return nil, fmt.Errorf("%w: column %q string past its data", errArrow, f.name)
			}
			s := data[o[i]:o[i+1]]
			if f.typ == arrowUtf8 || f.typ == arrowLargeUtf8 {
				out[i] = string(s)
			} else {
				out[i] = append([]byte(nil), s...)
			}
		}
	case arrowList, arrowLargeList:
		ob, err := r.nextBuf()
		if err != nil {
			return nil, err
		}
		o, err := offsets(f.typ == arrowLargeList, ob)
		if err != nil {
			return nil, err
		}
		child, err := r.column(f.children[0])
		if err != nil {
			return nil, err
		}
		for i := range out {
			if !valid(i) {
				continue
			}
			if o[i+1] > len(child) {
				return nil, fmt.Errorf("%w: list column %q points past its child", errArrow, f.name)
			}
			out[i] = child[o[i]:o[i+1]:o[i+1]]
		}
	case arrowFixedSizeList:
		child, err := r.column(f.children[0])
		if err != nil {
			return nil, err
		}
		if len(child) < n*f.fixed {
			return nil, fmt.Errorf("%w: fixed-size list column %q is short", errArrow, f.name)
		}
		for i := range out {
			if valid(i) {
				out[i] = child[i*f.fixed : (i+1)*f.fixed : (i+1)*f.fixed]
			}
		}
	case arrowStruct:
		cols := make([][]any, len(f.children))
		for k, c := range f.children {
			if cols[k], err = r.column(c); err != nil {
				return nil, err
			}
			if len(cols[k]) < n {
				return nil, fmt.Errorf("%w: struct column %q child %q is short", errArrow, f.name, c.name)
			}
		}
		for i := range out {
			if !valid(i) {
				continue
			}
			m := make(map[string]any, len(f.children))
			for k, c := range f.children {
				m[c.name] = cols[k][i]
			}
			out[i] = m
		}
	}
	return out, nil
}

// readArrowStream calls row for each row of an Arrow IPC stream.
func readArrowStream(r io.Reader, row func(map[string]any) error) error {
	var schema []arrowField
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:4]); err != nil {
			if err == io.EOF && schema != nil {
				return nil
			}
			return fmt.Errorf("%w: %v", errArrow, err)
		}
		size := binary.LittleEndian.Uint32(hdr[:4])
		if size == 0xFFFFFFFF { // continuation marker (Arrow >= 0.15)
			if _, err := io.ReadFull(r, hdr[4:8]); err != nil {
				return fmt.Errorf("%w: %v", errArrow, err)
			}
			size = binary.LittleEndian.Uint32(hdr[4:8])
		}
		if size == 0 { // end of stream
			if schema == nil {
				return fmt.Errorf("%w: stream has no schema", errArrow)
			}
			return nil
		}
		if size > maxArrowMeta {
			return fmt.Errorf("%w: metadata of %d bytes", errArrow, size)
		}
		meta, err := readExactly(r, int64(size))
		if err != nil {
			return fmt.Errorf("%w: metadata: %v", errArrow, err)
		}
		var ferr error
		root := fb{meta, 0, &ferr}
		root.pos = int(root.u32(0))
		msgType := root.scalar(1, 1)
		header, ok := root.table(2)
		bodyLen := int64(root.scalar(3, 8))
		if ferr != nil {
			return ferr
		}
		if !ok {
			return fmt.Errorf("%w: message without header", errArrow)
		}
		if bodyLen < 0 || bodyLen > maxArrowBody {
			return fmt.Errorf("%w: body of %d bytes", errArrow, bodyLen)
		}
		body, err := readExactly(r, bodyLen)
		if err != nil {
			return fmt.Errorf("%w: body: %v", errArrow, err)
		}
		switch msgType {
		case 1: // Schema
			if schema != nil {
				return fmt.Errorf("%w: second schema message", errArrow)
			}
			n, _ := header.vec(1)
			schema = []arrowField{}
			for k := 0; k < n; k++ {
				f, err := parseField(header.vecTable(1, k), 0)
				if err != nil {
					return err
				}
				schema = append(schema, f)
			}
			if ferr != nil {
				return ferr
			}
		case 2:
			return errors.New("dictionary batches are not supported")
		case 3: // RecordBatch
			if schema == nil {
				return fmt.Errorf("%w: record batch before the schema", errArrow)
			}
			if _, ok := header.table(3); ok {
				return errors.New("compressed record batches are not supported")
			}
			length := int(int64(header.scalar(0, 8)))
			if length < 0 || length > 8*len(body)+1<<16 {
				return fmt.Errorf("%w: record batch claims %d rows for a %d-byte body", errArrow, length, len(body))
			}
			br := &batchReader{meta: header, body: body}
			br.nNodes, br.nodesAt = header.vec(1)
			br.nBufs, br.bufsAt = header.vec(2)
			if ferr != nil {
				return ferr
			}
			cols := make([][]any, len(schema))
			for k, f := range schema {
				c, err := br.column(f)
				if err != nil {
					return err
				}
				if len(c) < length {
					return fmt.Errorf("%w: column %q has %d of %d rows", errArrow, f.name, len(c), length)
				}
				cols[k] = c
			}
			for i := 0; i < length; i++ {
				m := make(map[string]any, len(schema))
				for k, f := range schema {
					m[f.name] = cols[k][i]
				}
				if err := row(m); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unsupported Arrow message type %d", msgType)
		}
	}
}

// readExactly reads n bytes, growing the buffer as data arrives so that a
// corrupt length cannot make us allocate more than the input holds.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != n {
		return nil, fmt.Errorf("%d of %d bytes present", len(b), n)
	}
	return b, nil
}

// validUTF8Value reports whether every string in v is UTF-8.
func validUTF8Value(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case map[string]any:
		for _, e := range x {
			if !validUTF8Value(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !validUTF8Value(e) {
				return false
			}
		}
	}
	return true
}
