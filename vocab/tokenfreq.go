package vocab

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/internal/atomicfile"
)

// Token frequencies live in token_freq.pt, the file speculators'
// prepare_data.py writes and train.py reads: torch.save of a Python dict
// {token_id: count}. torch.save writes a zip archive holding
// <name>/data.pkl (a protocol-2 pickle) and <name>/version. A dict of ints
// needs no tensors, so we read and write that subset of the format directly;
// torch.load (weights_only too) reads our files and we read torch's.
//
// A JSON object {"token_id": count} is accepted as well (ReadTokenFreq picks
// the format by content), for tools that do not speak pickle.

const (
	maxFreqFile    = 1 << 30
	maxFreqEntries = 1 << 24
)

// ErrTokenFreq is wrapped by every token-frequency format error.
var ErrTokenFreq = errors.New("vocab: invalid token frequency file")

// ReadTokenFreq reads a token_freq.pt written by speculators (torch.save of
// a dict) or by us, or a JSON object of counts.
func ReadTokenFreq(path string) (map[int]int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	if fi.Size() > maxFreqFile {
		return nil, fmt.Errorf("vocab: %s: %w: %d bytes is too large", path, ErrTokenFreq, fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	m, err := DecodeTokenFreq(data)
	if err != nil {
		return nil, fmt.Errorf("vocab: %s: %w", path, err)
	}
	return m, nil
}

// DecodeTokenFreq decodes the bytes of a token frequency file.
func DecodeTokenFreq(data []byte) (map[int]int64, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return decodeTorchZip(data)
	case bytes.HasPrefix(data, []byte{0x80}):
		return nil, fmt.Errorf("%w: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a current torch", ErrTokenFreq)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return decodeFreqJSON(trimmed)
	}
	return nil, fmt.Errorf("%w: neither a torch.save zip archive nor a JSON object", ErrTokenFreq)
}

func decodeFreqJSON(data []byte) (map[int]int64, error) {
	var raw map[string]json.Number
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokenFreq, err)
	}
	out := make(map[int]int64, len(raw))
	for k, v := range raw {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%w: key %q is not a token id", ErrTokenFreq, k)
		}
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: count %q of token %d is not a non-negative integer", ErrTokenFreq, v, id)
		}
		out[id] = n
	}
	return out, nil
}

func decodeTorchZip(data []byte) (map[int]int64, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokenFreq, err)
	}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/data.pkl") || strings.Count(f.Name, "/") != 1 {
			continue
		}
		if f.UncompressedSize64 > maxFreqFile {
			return nil, fmt.Errorf("%w: data.pkl is too large", ErrTokenFreq)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTokenFreq, err)
		}
		pkl, err := io.ReadAll(io.LimitReader(rc, maxFreqFile))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTokenFreq, err)
		}
		return decodeIntDictPickle(pkl)
	}
	return nil, fmt.Errorf("%w: zip archive has no <name>/data.pkl", ErrTokenFreq)
}

// decodeIntDictPickle runs the subset of the pickle machine that a dict of
// Python ints needs (protocols 2-5).
func decodeIntDictPickle(p []byte) (map[int]int64, error) {
	out := map[int]int64{}
	var stack []any // int64 values, *big.Int, markObj, dictObj
	type markObj struct{}
	type dictObj struct{}
	var marks []int
	haveDict := false
	i := 0
	need := func(n int) ([]byte, error) {
		if i+n > len(p) || n < 0 {
			return nil, fmt.Errorf("%w: pickle truncated at byte %d", ErrTokenFreq, i)
		}
		b := p[i : i+n]
		i += n
		return b, nil
	}
	setItems := func(from int) error {
		items := stack[from:]
		if len(items)%2 != 0 {
			return fmt.Errorf("%w: odd number of dict items", ErrTokenFreq)
		}
		if from == 0 {
			return fmt.Errorf("%w: SETITEMS without a dict", ErrTokenFreq)
		}
		if _, ok := stack[from-1].(dictObj); !ok {
			return fmt.Errorf("%w: SETITEMS target is not a dict", ErrTokenFreq)
		}
		for j := 0; j < len(items); j += 2 {
			k, ok1 := items[j].(int64)
			v, ok2 := items[j+1].(int64)
			if !ok1 || !ok2 {
				return fmt.Errorf("%w: dict entries must be int -> int", ErrTokenFreq)
			}
			if k < 0 || k > math.MaxInt32 || v < 0 {
				return fmt.Errorf("%w: entry %d -> %d out of range", ErrTokenFreq, k, v)
			}
			if len(out) >= maxFreqEntries {
				return fmt.Errorf("%w: more than %d entries", ErrTokenFreq, maxFreqEntries)
			}
			out[int(k)] = v
		}
		stack = stack[:from]
		return nil
	}
	for {
		op, err := need(1)
		if err != nil {
			return nil, err
		}
		switch op[0] {
		case 0x80: // PROTO
			if _, err := need(1); err != nil {
				return nil, err
			}
		case 0x95: // FRAME
			if _, err := need(8); err != nil {
				return nil, err
			}
		case '}': // EMPTY_DICT
			if haveDict {
				return nil, fmt.Errorf("%w: nested dict", ErrTokenFreq)
			}
			haveDict = true
			stack = append(stack, dictObj{})
		case 'q': // BINPUT
			if _, err := need(1); err != nil {
				return nil, err
			}
		case 'r': // LONG_BINPUT
			if _, err := need(4); err != nil {
				return nil, err
			}
		case 0x94: // MEMOIZE
		case '(': // MARK
			marks = append(marks, len(stack))
			stack = append(stack, markObj{})
		case 'K':
			b, err := need(1)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int64(b[0]))
		case 'M':
			b, err := need(2)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int64(binary.LittleEndian.Uint16(b)))
		case 'J':
			b, err := need(4)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int64(int32(binary.LittleEndian.Uint32(b))))
		case 0x8a: // LONG1
			nb, err := need(1)
			if err != nil {
				return nil, err
			}
			b, err := need(int(nb[0]))
			if err != nil {
				return nil, err
			}
			v, ok := decodeLong(b)
			if !ok {
				return nil, fmt.Errorf("%w: integer does not fit in int64", ErrTokenFreq)
			}
			stack = append(stack, v)
		case 's': // SETITEM
			if len(stack) < 3 {
				return nil, fmt.Errorf("%w: SETITEM on a short stack", ErrTokenFreq)
			}
			if err := setItems(len(stack) - 2); err != nil {
				return nil, err
			}
		case 'u': // SETITEMS
			if len(marks) == 0 {
				return nil, fmt.Errorf("%w: SETITEMS without MARK", ErrTokenFreq)
			}
			m := marks[len(marks)-1]
			marks = marks[:len(marks)-1]
			stack = append(stack[:m], stack[m+1:]...) // drop the mark
			if err := setItems(m); err != nil {
				return nil, err
			}
		case '.': // STOP
			if len(stack) != 1 || !haveDict || len(marks) != 0 {
				return nil, fmt.Errorf("%w: pickle is not a single dict", ErrTokenFreq)
			}
			if _, ok := stack[0].(dictObj); !ok {
				return nil, fmt.Errorf("%w: pickle is not a dict", ErrTokenFreq)
			}
			return out, nil
		default:
			return nil, fmt.Errorf("%w: unsupported pickle opcode 0x%02x at byte %d (expected a dict of ints)", ErrTokenFreq, op[0], i-1)
		}
	}
}

// decodeLong decodes a little-endian two's-complement LONG1 payload.
func decodeLong(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !v.IsInt64() {
		return 0, false
	}
	return v.Int64(), true
}

// encodeLong is the inverse of decodeLong with pickle's minimal length.
func encodeLong(v int64) []byte {
	var out []byte
	for {
		out = append(out, byte(v))
		next := v >> 8
		if (next == 0 && byte(v)&0x80 == 0) || (next == -1 && byte(v)&0x80 != 0) {
			return out
		}
		v = next
	}
}

func pickleInt(b *bytes.Buffer, v int64) {
	switch {
	case v >= 0 && v < 256:
		b.WriteByte('K')
		b.WriteByte(byte(v))
	case v >= 0 && v < 65536:
		b.WriteByte('M')
		b.WriteByte(byte(v))
		b.WriteByte(byte(v >> 8))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b.WriteByte('J')
		var x [4]byte
		binary.LittleEndian.PutUint32(x[:], uint32(int32(v)))
		b.Write(x[:])
	default:
		l := encodeLong(v)
		b.WriteByte(0x8a)
		b.WriteByte(byte(len(l)))
		b.Write(l)
	}
}

// EncodeTokenFreq returns the bytes of a token_freq.pt: a zip archive in
// torch.save's layout holding a protocol-2 pickle of the dict, keys in
// ascending id order (Python's pickler batches SETITEMS by 1000 the same way).
func EncodeTokenFreq(freq map[int]int64) ([]byte, error) {
	ids := make([]int, 0, len(freq))
	for id := range freq {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var p bytes.Buffer
	p.Write([]byte{0x80, 2, '}', 'q', 0})
	for start := 0; start < len(ids); start += 1000 {
		end := min(start+1000, len(ids))
		if end-start > 1 {
			p.WriteByte('(')
		}
		for _, id := range ids[start:end] {
			pickleInt(&p, int64(id))
			pickleInt(&p, freq[id])
		}
		if end-start > 1 {
			p.WriteByte('u')
		} else {
			p.WriteByte('s')
		}
	}
	p.WriteByte('.')

	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{"token_freq/data.pkl", p.Bytes()},
		{"token_freq/version", []byte("3\n")},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

// WriteTokenFreq atomically writes a token_freq.pt.
func WriteTokenFreq(path string, freq map[int]int64) error {
	data, err := EncodeTokenFreq(freq)
	if err != nil {
		return fmt.Errorf("vocab: encode %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("vocab: %w", err)
	}
	return nil
}
