package vocab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// The .npy format (numpy.lib.format): magic, version, header length, a
// Python-literal dict header padded to 64 bytes, then the raw array.
const (
	npyMagic       = "\x93NUMPY"
	npyAlign       = 64
	npyGrowthMax   = 21 // numpy's GROWTH_AXIS_MAX_DIGITS: header room to grow the shape in place
	maxNPYHeader   = 1 << 16
	maxNPYElements = 1 << 31
)

// ErrNPY is wrapped by every .npy format error.
var ErrNPY = errors.New("vocab: invalid .npy file")

// npyHeader is the parsed header dict of a .npy file.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// encodeNPYHeader returns the magic, version 1.0 and header exactly as
// numpy.save writes them (numpy >= 1.22: sorted keys, growth padding, 64-byte
// alignment), so our files are byte-identical to Python's.
func encodeNPYHeader(descr string, n int) []byte {
	shape := fmt.Sprintf("(%d,)", n)
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	h += strings.Repeat(" ", npyGrowthMax-len(strconv.Itoa(n)))
	hlen := len(h) + 1
	pad := npyAlign - (len(npyMagic)+2+2+hlen)%npyAlign
	if pad == npyAlign {
		pad = 0
	}
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.WriteByte(1)
	b.WriteByte(0)
	var l [2]byte
	binary.LittleEndian.PutUint16(l[:], uint16(hlen+pad))
	b.Write(l[:])
	b.WriteString(h)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	return b.Bytes()
}

// EncodeInt64NPY returns the .npy bytes of a 1-D int64 array ('<i8').
func EncodeInt64NPY(v []int64) []byte {
	out := encodeNPYHeader("<i8", len(v))
	out = append(out, make([]byte, 8*len(v))...)
	data := out[len(out)-8*len(v):]
	for i, x := range v {
		binary.LittleEndian.PutUint64(data[8*i:], uint64(x))
	}
	return out
}

// EncodeBoolNPY returns the .npy bytes of a 1-D bool array ('|b1').
func EncodeBoolNPY(v []bool) []byte {
	out := encodeNPYHeader("|b1", len(v))
	for _, x := range v {
		if x {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// parseNPYHeader reads the magic, version and header dict.
func parseNPYHeader(r io.Reader) (npyHeader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return npyHeader{}, fmt.Errorf("%w: short magic: %v", ErrNPY, err)
	}
	if string(pre[:6]) != npyMagic {
		return npyHeader{}, fmt.Errorf("%w: bad magic %q", ErrNPY, pre[:6])
	}
	var hlen int
	switch pre[6] {
	case 1:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return npyHeader{}, fmt.Errorf("%w: short header length", ErrNPY)
		}
		hlen = int(binary.LittleEndian.Uint16(l[:]))
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return npyHeader{}, fmt.Errorf("%w: short header length", ErrNPY)
		}
		hlen = int(binary.LittleEndian.Uint32(l[:]))
	default:
		return npyHeader{}, fmt.Errorf("%w: unsupported version %d.%d", ErrNPY, pre[6], pre[7])
	}
	if hlen > maxNPYHeader {
		return npyHeader{}, fmt.Errorf("%w: header of %d bytes is too large", ErrNPY, hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return npyHeader{}, fmt.Errorf("%w: short header: %v", ErrNPY, err)
	}
	return parseHeaderDict(string(hb))
}

// parseHeaderDict parses the restricted Python dict literal numpy writes:
// {'descr': '<i8', 'fortran_order': False, 'shape': (3,), }.
func parseHeaderDict(s string) (npyHeader, error) {
	var h npyHeader
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return h, fmt.Errorf("%w: header is not a dict: %.80q", ErrNPY, s)
	}
	p := &pyLit{s: s[1 : len(s)-1]}
	seen := map[string]bool{}
	for {
		p.space()
		if p.done() {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		p.space()
		if !p.eat(':') {
			return h, fmt.Errorf("%w: expected ':' after %q", ErrNPY, key)
		}
		p.space()
		if seen[key] {
			return h, fmt.Errorf("%w: duplicate key %q", ErrNPY, key)
		}
		seen[key] = true
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			switch {
			case p.word("False"):
				h.fortran = false
			case p.word("True"):
				h.fortran = true
			default:
				return h, fmt.Errorf("%w: fortran_order is not a bool", ErrNPY)
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("%w: unknown header key %q", ErrNPY, key)
		}
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.done() {
				return h, fmt.Errorf("%w: expected ',' in header", ErrNPY)
			}
		}
	}
	if !seen["descr"] || !seen["shape"] || !seen["fortran_order"] {
		return h, fmt.Errorf("%w: header lacks descr, fortran_order or shape", ErrNPY)
	}
	return h, nil
}

type pyLit struct {
	s string
	i int
}

func (p *pyLit) done() bool { return p.i >= len(p.s) }
func (p *pyLit) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}
func (p *pyLit) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}
func (p *pyLit) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}
func (p *pyLit) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("%w: expected a string in header", ErrNPY)
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("%w: unterminated string in header", ErrNPY)
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}
func (p *pyLit) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, fmt.Errorf("%w: shape is not a tuple", ErrNPY)
	}
	var dims []int
	for {
		p.space()
		if p.eat(')') {
			return dims, nil
		}
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if j == p.i || p.i-j > 12 {
			return nil, fmt.Errorf("%w: bad shape dimension", ErrNPY)
		}
		d, _ := strconv.Atoi(p.s[j:p.i])
		dims = append(dims, d)
		if len(dims) > 8 {
			return nil, fmt.Errorf("%w: too many dimensions", ErrNPY)
		}
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.eat(')') {
				return nil, fmt.Errorf("%w: bad shape tuple", ErrNPY)
			}
			return dims, nil
		}
	}
}

// vectorLen checks a header describes a 1-D (or (n,1)-free) vector and
// returns its length.
func (h npyHeader) vectorLen() (int, error) {
	if len(h.shape) != 1 {
		return 0, fmt.Errorf("%w: shape %v is not 1-D", ErrNPY, h.shape)
	}
	if h.shape[0] > maxNPYElements {
		return 0, fmt.Errorf("%w: %d elements is too many", ErrNPY, h.shape[0])
	}
	return h.shape[0], nil
}

// DecodeInt64NPY reads a 1-D integer .npy array (any of <i8 <i4 <i2 |i1 <u4
// <u2 |u1 and big-endian forms, as the Python tools may write) as int64.
func DecodeInt64NPY(r io.Reader) ([]int64, error) {
	br := bufio.NewReader(r)
	h, err := parseNPYHeader(br)
	if err != nil {
		return nil, err
	}
	n, err := h.vectorLen()
	if err != nil {
		return nil, err
	}
	if len(h.descr) != 3 {
		return nil, fmt.Errorf("%w: dtype %q is not an integer type", ErrNPY, h.descr)
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch h.descr[0] {
	case '<', '|', '=':
	case '>':
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: dtype %q has an unknown byte order", ErrNPY, h.descr)
	}
	kind, size := h.descr[1], int(h.descr[2]-'0')
	if (kind != 'i' && kind != 'u') || (size != 1 && size != 2 && size != 4 && size != 8) {
		return nil, fmt.Errorf("%w: dtype %q is not an integer type", ErrNPY, h.descr)
	}
	out := make([]int64, 0, min(n, 1<<20))
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("%w: data ends after %d of %d elements", ErrNPY, i, n)
		}
		var v int64
		switch size {
		case 1:
			if kind == 'i' {
				v = int64(int8(buf[0]))
			} else {
				v = int64(buf[0])
			}
		case 2:
			if kind == 'i' {
				v = int64(int16(order.Uint16(buf)))
			} else {
				v = int64(order.Uint16(buf))
			}
		case 4:
			if kind == 'i' {
				v = int64(int32(order.Uint32(buf)))
			} else {
				v = int64(order.Uint32(buf))
			}
		case 8:
			u := order.Uint64(buf)
			if kind == 'u' && u > math.MaxInt64 {
				return nil, fmt.Errorf("%w: element %d overflows int64", ErrNPY, i)
			}
			v = int64(u)
		}
		out = append(out, v)
	}
	return out, nil
}

// DecodeBoolNPY reads a 1-D bool .npy array ('|b1'); uint8 0/1 arrays are
// accepted too.
func DecodeBoolNPY(r io.Reader) ([]bool, error) {
	br := bufio.NewReader(r)
	h, err := parseNPYHeader(br)
	if err != nil {
		return nil, err
	}
	n, err := h.vectorLen()
	if err != nil {
		return nil, err
	}
	switch h.descr {
	case "|b1", "<b1", "=b1", "|u1", "<u1":
	default:
		return nil, fmt.Errorf("%w: dtype %q is not bool", ErrNPY, h.descr)
	}
	out := make([]bool, 0, min(n, 1<<20))
	for i := 0; i < n; i++ {
		c, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: data ends after %d of %d elements", ErrNPY, i, n)
		}
		if c > 1 {
			return nil, fmt.Errorf("%w: element %d is %d, not a bool", ErrNPY, i, c)
		}
		out = append(out, c == 1)
	}
	return out, nil
}

func readNPYFile[T any](path string, dec func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	defer f.Close()
	v, err := dec(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
