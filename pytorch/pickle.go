package pytorch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Bounds on the pickle machine. A real state dict of a 100B-parameter model
// has a few thousand tensors and a memo of a few tens of thousands entries.
const (
	maxMemo     = 1 << 22
	maxStack    = 1 << 22
	maxRank     = 32
	maxTensors  = 1 << 20
	maxPickle   = 256 << 20 // bytes of data.pkl
	maxDictSize = 1 << 22
)

// ErrUnsafe is wrapped by every error about a pickle that asks for something
// outside the allowed set (a global, a call, an opcode).
var ErrUnsafe = errors.New("pytorch: refused unsafe pickle")

// pickle values:
//
//	nil, bool, int64, float64, string, []byte, tuple, *list, *dict,
//	global, *storageRef, *Tensor
type (
	tuple []any
	list  struct{ items []any }
	dict  struct {
		keys []any
		vals []any
		idx  map[any]int
		// attrs holds a BUILD state applied to an OrderedDict (its
		// _metadata); it is kept only so that BUILD is well defined.
		attrs any
	}
	global struct{ module, name string }
	mark   struct{}
)

func newDict() *dict { return &dict{idx: map[any]int{}} }

func (d *dict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("unhashable or unsupported dict key of type %s", typeName(k))
	}
	if i, ok := d.idx[k]; ok {
		d.vals[i] = v
		return nil
	}
	if len(d.keys) >= maxDictSize {
		return fmt.Errorf("dict larger than %d entries", maxDictSize)
	}
	d.idx[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (d *dict) get(k string) (any, bool) {
	i, ok := d.idx[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// The globals a state dict may name. Storage classes are only allowed as
// the type field of a persistent id; the two rebuild functions and
// OrderedDict only as the callable of REDUCE.
var storageDTypes = map[string]string{
	"FloatStorage":    "F32",
	"HalfStorage":     "F16",
	"BFloat16Storage": "BF16",
	"DoubleStorage":   "F64",
	"LongStorage":     "I64",
	"IntStorage":      "I32",
	"ShortStorage":    "I16",
	"CharStorage":     "I8",
	"ByteStorage":     "U8",
	"BoolStorage":     "BOOL",
}

func allowedGlobal(module, name string) bool {
	switch module + "." + name {
	case "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter":
		return true
	}
	if module == "torch" {
		_, ok := storageDTypes[name]
		return ok
	}
	return false
}

// storageRef is a persistent id resolved to a storage of the archive.
type storageRef struct {
	key   string
	dtype string // safetensors spelling
	numel int64
}

// unpickler runs the restricted machine over one pickle.
type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[int64]any
	persist func(pid any) (any, error)
	tensors int
}

func (u *unpickler) errorf(format string, args ...any) error {
	return fmt.Errorf("pickle offset %d: %s", u.pos, fmt.Sprintf(format, args...))
}

func (u *unpickler) unsafef(format string, args ...any) error {
	return fmt.Errorf("%w: pickle offset %d: %s", ErrUnsafe, u.pos, fmt.Sprintf(format, args...))
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("truncated (want %d bytes, %d left)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readLine() (string, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
		if i-u.pos > 1024 {
			break
		}
	}
	return "", u.errorf("unterminated text line")
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxStack {
		return u.errorf("stack deeper than %d", maxStack)
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops everything above the last mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no mark on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoPut(i int64, v any) error {
	if i < 0 {
		return u.errorf("negative memo index %d", i)
	}
	if _, ok := u.memo[i]; !ok && len(u.memo) >= maxMemo {
		return u.errorf("memo larger than %d entries", maxMemo)
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i int64) error {
	v, ok := u.memo[i]
	if !ok {
		return u.errorf("memo index %d not defined", i)
	}
	return u.push(v)
}

// load runs the machine to STOP and returns the result.
func (u *unpickler) load() (any, error) {
	u.memo = map[int64]any{}
	for {
		if u.pos >= len(u.data) {
			return nil, u.errorf("no STOP opcode")
		}
		op := u.data[u.pos]
		u.pos++
		var err error
		switch op {
		case 0x80: // PROTO
			var b []byte
			if b, err = u.read(1); err == nil && b[0] > 5 {
				err = u.errorf("unsupported pickle protocol %d", b[0])
			}
		case 0x95: // FRAME (protocol 4): just a length hint
			_, err = u.read(8)
		case '.': // STOP
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if len(u.stack) != 0 || len(u.marks) != 0 {
				return nil, u.errorf("%d values left on the stack at STOP", len(u.stack))
			}
			return v, nil
		case '(': // MARK
			if len(u.marks) >= maxStack {
				return nil, u.errorf("too many marks")
			}
			u.marks = append(u.marks, len(u.stack))
		case '0': // POP
			if len(u.stack) > 0 && (len(u.marks) == 0 || len(u.stack) > u.marks[len(u.marks)-1]) {
				_, err = u.pop()
			} else {
				_, err = u.popMark()
			}
		case '1': // POP_MARK
			_, err = u.popMark()
		case '2': // DUP
			var v any
			if v, err = u.top(); err == nil {
				err = u.push(v)
			}
		case 'N': // NONE
			err = u.push(nil)
		case 0x88: // NEWTRUE
			err = u.push(true)
		case 0x89: // NEWFALSE
			err = u.push(false)
		case 'J': // BININT
			var b []byte
			if b, err = u.read(4); err == nil {
				err = u.push(int64(int32(binary.LittleEndian.Uint32(b))))
			}
		case 'K': // BININT1
			var b []byte
			if b, err = u.read(1); err == nil {
				err = u.push(int64(b[0]))
			}
		case 'M': // BININT2
			var b []byte
			if b, err = u.read(2); err == nil {
				err = u.push(int64(binary.LittleEndian.Uint16(b)))
			}
		case 'I': // INT (text), also True/False as I01/I00
			var s string
			if s, err = u.readLine(); err == nil {
				switch s {
				case "01":
					err = u.push(true)
				case "00":
					err = u.push(false)
				default:
					var n int64
					if n, err = strconv.ParseInt(s, 10, 64); err != nil {
						err = u.errorf("bad INT %q", s)
					} else {
						err = u.push(n)
					}
				}
			}
		case 0x8a: // LONG1
			var b []byte
			if b, err = u.read(1); err == nil {
				n := int(b[0])
				if b, err = u.read(n); err == nil {
					var v int64
					v, err = decodeLong(b)
					if err != nil {
						err = u.errorf("%v", err)
					} else {
						err = u.push(v)
					}
				}
			}
		case 'G': // BINFLOAT (big-endian)
			var b []byte
			if b, err = u.read(8); err == nil {
				err = u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
			}
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			var n int64
			if n, err = u.readLen(op); err == nil {
				var b []byte
				if b, err = u.read(int(n)); err == nil {
					err = u.push(string(b))
				}
			}
		case 'T', 'U', 'B', 'C', 0x8e: // BINSTRING, SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES, BINBYTES8
			var n int64
			if n, err = u.readLen(op); err == nil {
				var b []byte
				if b, err = u.read(int(n)); err == nil {
					if op == 'T' || op == 'U' {
						err = u.push(string(b))
					} else {
						err = u.push(append([]byte(nil), b...))
					}
				}
			}
		case ')': // EMPTY_TUPLE
			err = u.push(tuple{})
		case 't': // TUPLE
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.push(tuple(items))
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(u.stack) < n || (len(u.marks) > 0 && len(u.stack)-n < u.marks[len(u.marks)-1]) {
				return nil, u.errorf("stack underflow")
			}
			t := append(tuple(nil), u.stack[len(u.stack)-n:]...)
			u.stack = u.stack[:len(u.stack)-n]
			err = u.push(t)
		case ']': // EMPTY_LIST
			err = u.push(&list{})
		case 'l': // LIST
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.push(&list{items: items})
			}
		case 'a': // APPEND
			var v, l any
			if v, err = u.pop(); err == nil {
				if l, err = u.top(); err == nil {
					err = u.appendTo(l, v)
				}
			}
		case 'e': // APPENDS
			var items []any
			if items, err = u.popMark(); err == nil {
				var l any
				if l, err = u.top(); err == nil {
					for _, v := range items {
						if err = u.appendTo(l, v); err != nil {
							break
						}
					}
				}
			}
		case '}': // EMPTY_DICT
			err = u.push(newDict())
		case 'd': // DICT
			var items []any
			if items, err = u.popMark(); err == nil {
				d := newDict()
				if err = u.setItems(d, items); err == nil {
					err = u.push(d)
				}
			}
		case 's': // SETITEM
			var k, v, d any
			if v, err = u.pop(); err == nil {
				if k, err = u.pop(); err == nil {
					if d, err = u.top(); err == nil {
						err = u.setItems(d, []any{k, v})
					}
				}
			}
		case 'u': // SETITEMS
			var items []any
			if items, err = u.popMark(); err == nil {
				var d any
				if d, err = u.top(); err == nil {
					err = u.setItems(d, items)
				}
			}
		case 'q': // BINPUT
			var b []byte
			if b, err = u.read(1); err == nil {
				var v any
				if v, err = u.top(); err == nil {
					err = u.memoPut(int64(b[0]), v)
				}
			}
		case 'r': // LONG_BINPUT
			var b []byte
			if b, err = u.read(4); err == nil {
				var v any
				if v, err = u.top(); err == nil {
					err = u.memoPut(int64(binary.LittleEndian.Uint32(b)), v)
				}
			}
		case 0x94: // MEMOIZE
			var v any
			if v, err = u.top(); err == nil {
				err = u.memoPut(int64(len(u.memo)), v)
			}
		case 'h': // BINGET
			var b []byte
			if b, err = u.read(1); err == nil {
				err = u.memoGet(int64(b[0]))
			}
		case 'j': // LONG_BINGET
			var b []byte
			if b, err = u.read(4); err == nil {
				err = u.memoGet(int64(binary.LittleEndian.Uint32(b)))
			}
		case 'c': // GLOBAL "module\nname\n"
			var mod, name string
			if mod, err = u.readLine(); err == nil {
				if name, err = u.readLine(); err == nil {
					err = u.pushGlobal(mod, name)
				}
			}
		case 0x93: // STACK_GLOBAL
			var m, n any
			if n, err = u.pop(); err == nil {
				if m, err = u.pop(); err == nil {
					ms, ok1 := m.(string)
					ns, ok2 := n.(string)
					if !ok1 || !ok2 {
						return nil, u.unsafef("STACK_GLOBAL with non-string operands")
					}
					err = u.pushGlobal(ms, ns)
				}
			}
		case 'R': // REDUCE
			var args, fn any
			if args, err = u.pop(); err == nil {
				if fn, err = u.pop(); err == nil {
					var v any
					if v, err = u.reduce(fn, args); err == nil {
						err = u.push(v)
					}
				}
			}
		case 'b': // BUILD
			var state, obj any
			if state, err = u.pop(); err == nil {
				if obj, err = u.top(); err == nil {
					d, ok := obj.(*dict)
					if !ok {
						return nil, u.unsafef("BUILD on a %s (only OrderedDict state is accepted)", typeName(obj))
					}
					d.attrs = state
				}
			}
		case 'Q': // BINPERSID
			var pid any
			if pid, err = u.pop(); err == nil {
				if u.persist == nil {
					return nil, u.unsafef("persistent id outside a torch archive")
				}
				var v any
				if v, err = u.persist(pid); err == nil {
					err = u.push(v)
				}
			}
		default:
			name := opNames[op]
			if name == "" {
				return nil, u.errorf("unknown opcode 0x%02x", op)
			}
			return nil, u.unsafef("opcode %s is not allowed in a state dict", name)
		}
		if err != nil {
			return nil, err
		}
	}
}

// opNames names the opcodes this machine refuses, for the error message.
var opNames = map[byte]string{
	'o': "OBJ", 'i': "INST", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 'P': "PERSID",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 'F': "FLOAT", 'L': "LONG", 0x8b: "LONG4",
	'S': "STRING", 'V': "UNICODE", 'g': "GET", 'p': "PUT", 0x8f: "EMPTY_SET",
	0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER",
}

func (u *unpickler) readLen(op byte) (int64, error) {
	var n int64
	switch op {
	case 0x8c, 'U', 'C': // 1-byte length
		b, err := u.read(1)
		if err != nil {
			return 0, err
		}
		n = int64(b[0])
	case 'X', 'T', 'B': // 4-byte length
		b, err := u.read(4)
		if err != nil {
			return 0, err
		}
		n = int64(binary.LittleEndian.Uint32(b))
	default: // 8-byte length
		b, err := u.read(8)
		if err != nil {
			return 0, err
		}
		v := binary.LittleEndian.Uint64(b)
		if v > uint64(len(u.data)) {
			return 0, u.errorf("string length %d beyond the pickle", v)
		}
		n = int64(v)
	}
	if n > int64(len(u.data)-u.pos) {
		return 0, u.errorf("string length %d beyond the pickle", n)
	}
	return n, nil
}

func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes does not fit in int64", len(b))
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if b[len(b)-1]&0x80 != 0 && len(b) < 8 { // sign-extend
		v |= ^uint64(0) << (8 * uint(len(b)))
	}
	return int64(v), nil
}

func (u *unpickler) pushGlobal(module, name string) error {
	if !allowedGlobal(module, name) {
		return u.unsafef("global %s.%s is not allowed (a state dict needs only tensors, storages and OrderedDict)", module, name)
	}
	return u.push(global{module, name})
}

func (u *unpickler) appendTo(l, v any) error {
	ll, ok := l.(*list)
	if !ok {
		return u.unsafef("APPEND to a %s", typeName(l))
	}
	if len(ll.items) >= maxDictSize {
		return u.errorf("list longer than %d", maxDictSize)
	}
	ll.items = append(ll.items, v)
	return nil
}

func (u *unpickler) setItems(d any, items []any) error {
	dd, ok := d.(*dict)
	if !ok {
		return u.unsafef("SETITEM on a %s", typeName(d))
	}
	if len(items)%2 != 0 {
		return u.errorf("odd number of items for a dict")
	}
	for i := 0; i < len(items); i += 2 {
		if err := dd.set(items[i], items[i+1]); err != nil {
			return u.errorf("%v", err)
		}
	}
	return nil
}

// reduce applies an allowed callable; nothing else can be called.
func (u *unpickler) reduce(fn, args any) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, u.unsafef("REDUCE on a %s", typeName(fn))
	}
	a, ok := args.(tuple)
	if !ok {
		return nil, u.unsafef("REDUCE %s.%s with %s arguments", g.module, g.name, typeName(args))
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(a) != 0 {
			return nil, u.unsafef("collections.OrderedDict called with %d arguments", len(a))
		}
		return newDict(), nil
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(a) != 6 && len(a) != 7 {
			return nil, u.errorf("_rebuild_tensor_v2 with %d arguments, want 6 or 7", len(a))
		}
		st, ok := a[0].(*storageRef)
		if !ok {
			return nil, u.errorf("_rebuild_tensor_v2: storage is a %s", typeName(a[0]))
		}
		off, ok := a[1].(int64)
		if !ok {
			return nil, u.errorf("_rebuild_tensor_v2: storage offset is a %s", typeName(a[1]))
		}
		shape, err := intTuple(a[2])
		if err != nil {
			return nil, u.errorf("_rebuild_tensor_v2: size: %v", err)
		}
		stride, err := intTuple(a[3])
		if err != nil {
			return nil, u.errorf("_rebuild_tensor_v2: stride: %v", err)
		}
		if len(shape) != len(stride) {
			return nil, u.errorf("_rebuild_tensor_v2: size has %d dims, stride %d", len(shape), len(stride))
		}
		if len(shape) > maxRank {
			return nil, u.errorf("_rebuild_tensor_v2: %d dims (at most %d)", len(shape), maxRank)
		}
		u.tensors++
		if u.tensors > maxTensors {
			return nil, u.errorf("more than %d tensors", maxTensors)
		}
		t := &Tensor{storage: st, offset: off, shape: shape, stride: stride}
		if err := t.checkView(); err != nil {
			return nil, u.errorf("%v", err)
		}
		return t, nil
	case "torch._utils._rebuild_parameter":
		// (data, requires_grad, backward_hooks)
		if len(a) != 3 {
			return nil, u.errorf("_rebuild_parameter with %d arguments, want 3", len(a))
		}
		t, ok := a[0].(*Tensor)
		if !ok {
			return nil, u.errorf("_rebuild_parameter of a %s", typeName(a[0]))
		}
		return t, nil
	}
	return nil, u.unsafef("%s.%s may not be called", g.module, g.name)
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(tuple)
	if !ok {
		return nil, fmt.Errorf("a %s, want a tuple of ints", typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, want an int", i, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case global:
		return "global " + v.module + "." + v.name
	case *storageRef:
		return "storage"
	case *Tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
