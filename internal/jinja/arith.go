package jinja

// Python arithmetic for template expressions (speculators fork): int and
// float follow Python (true division, floor division and modulo rounding
// toward negative infinity, int ** non-negative int stays int), and operand
// types Python rejects are errors rather than silent zeros.

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// maxRepeat bounds 'ab' * n and [x] * n so a hostile template cannot
// exhaust memory.
const maxRepeat = 1 << 24

func pyTypeName(v Value) string {
	switch v.kind {
	case KindUndefined:
		return "Undefined"
	case KindNone:
		return "NoneType"
	case KindBool:
		return "bool"
	case KindInt, KindBigInt:
		return "int"
	case KindFloat:
		return "float"
	case KindString:
		return "str"
	case KindList:
		return "list"
	case KindDict:
		return "dict"
	}
	return "function"
}

// bigOf returns an integer-like value (int, big int, bool) as *big.Int.
func bigOf(v Value) (*big.Int, bool) {
	switch v.kind {
	case KindInt:
		return big.NewInt(v.AsInt()), true
	case KindBigInt:
		return v.v.(*big.Int), true
	case KindBool:
		if v.AsBool() {
			return big.NewInt(1), true
		}
		return big.NewInt(0), true
	}
	return nil, false
}

func arith(op string, a, b Value) (Value, error) {
	if a.IsUndefined() || b.IsUndefined() {
		name := "value"
		return Undefined(), fmt.Errorf("undefined %s in %q operation", name, op)
	}
	switch op {
	case "+":
		if a.IsString() && b.IsString() {
			return NewString(a.AsString() + b.AsString()), nil
		}
		if a.IsList() && b.IsList() {
			if a.AsList().Tuple != b.AsList().Tuple {
				return Undefined(), fmt.Errorf("can only concatenate %s (not \"%s\") to %s", seqName(a), seqName(b), seqName(a))
			}
			items := make([]Value, 0, a.AsList().Len()+b.AsList().Len())
			items = append(items, a.AsList().Items...)
			items = append(items, b.AsList().Items...)
			if a.AsList().Tuple {
				return NewTuple(items), nil
			}
			return NewList(items), nil
		}
	case "*":
		if s, n, ok := seqTimes(a, b); ok {
			return repeat(s, n)
		}
		if s, n, ok := seqTimes(b, a); ok {
			return repeat(s, n)
		}
	case "%":
		if a.IsString() {
			// printf-style formatting: a tuple gives the arguments.
			if b.IsList() && b.AsList().Tuple {
				return pyPercent(a.AsString(), b.AsList().Items)
			}
			return pyPercentMapping(a.AsString(), []Value{b}, b.IsList() || b.IsDict())
		}
	}
	if (a.IsInt() || a.IsBool()) && (b.IsInt() || b.IsBool()) {
		if v, ok := smallIntArith(op, toInt64(a), toInt64(b)); ok {
			return v, nil
		}
	}
	ai, aInt := bigOf(a)
	bi, bInt := bigOf(b)
	if aInt && bInt {
		return intArith(op, ai, bi)
	}
	if (aInt || a.IsFloat()) && (bInt || b.IsFloat()) {
		return floatArith(op, toFloat64(a), toFloat64(b))
	}
	return Undefined(), fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, pyTypeName(a), pyTypeName(b))
}

func seqTimes(s, n Value) (Value, int64, bool) {
	if (s.IsString() || s.IsList()) && (n.IsInt() || n.IsBool()) {
		return s, toInt64(n), true
	}
	return Value{}, 0, false
}

func repeat(s Value, n int64) (Value, error) {
	if n < 0 {
		n = 0
	}
	if s.IsString() {
		if n > 0 && int64(len(s.AsString()))*n > maxRepeat {
			return Undefined(), fmt.Errorf("string repetition too large")
		}
		return NewString(strings.Repeat(s.AsString(), int(n))), nil
	}
	items := s.AsList().Items
	if n > 0 && int64(len(items))*n > maxRepeat {
		return Undefined(), fmt.Errorf("list repetition too large")
	}
	out := make([]Value, 0, len(items)*int(n))
	for range n {
		out = append(out, items...)
	}
	if s.AsList().Tuple {
		return NewTuple(out), nil
	}
	return NewList(out), nil
}

func intArith(op string, a, b *big.Int) (Value, error) {
	r := new(big.Int)
	switch op {
	case "+":
		r.Add(a, b)
	case "-":
		r.Sub(a, b)
	case "*":
		if a.BitLen()+b.BitLen() > 1<<16 {
			return Undefined(), fmt.Errorf("integer too large")
		}
		r.Mul(a, b)
	case "/":
		if b.Sign() == 0 {
			return Undefined(), fmt.Errorf("division by zero")
		}
		fa, _ := new(big.Float).SetInt(a).Float64()
		fb, _ := new(big.Float).SetInt(b).Float64()
		return NewFloat(fa / fb), nil
	case "//", "%":
		if b.Sign() == 0 {
			return Undefined(), fmt.Errorf("integer division or modulo by zero")
		}
		q, m := new(big.Int), new(big.Int)
		q.DivMod(a, b, m) // Euclidean: 0 <= m < |b|
		if m.Sign() != 0 && b.Sign() < 0 {
			// Python floors: the remainder takes the divisor's sign.
			q.Add(q, big.NewInt(1))
			m.Add(m, b)
		}
		if op == "//" {
			r = q
		} else {
			r = m
		}
	case "**":
		if b.Sign() < 0 {
			fa, _ := new(big.Float).SetInt(a).Float64()
			fb, _ := new(big.Float).SetInt(b).Float64()
			return floatArith("**", fa, fb)
		}
		if !b.IsInt64() || int64(a.BitLen())*b.Int64() > 1<<16 {
			return Undefined(), fmt.Errorf("integer too large")
		}
		r.Exp(a, b, nil)
	default:
		return Undefined(), fmt.Errorf("unknown operator %q", op)
	}
	return NewBigInt(r), nil
}

func floatArith(op string, a, b float64) (Value, error) {
	switch op {
	case "+":
		return NewFloat(a + b), nil
	case "-":
		return NewFloat(a - b), nil
	case "*":
		return NewFloat(a * b), nil
	case "/":
		if b == 0 {
			return Undefined(), fmt.Errorf("float division by zero")
		}
		return NewFloat(a / b), nil
	case "//":
		if b == 0 {
			return Undefined(), fmt.Errorf("float floor division by zero")
		}
		return NewFloat(math.Floor(a / b)), nil
	case "%":
		if b == 0 {
			return Undefined(), fmt.Errorf("float modulo")
		}
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return NewFloat(m), nil
	case "**":
		if a == 0 && b < 0 {
			return Undefined(), fmt.Errorf("0.0 cannot be raised to a negative power")
		}
		return NewFloat(math.Pow(a, b)), nil
	}
	return Undefined(), fmt.Errorf("unknown operator %q", op)
}

// smallIntArith is the int64 fast path of intArith; ok is false when the
// result may overflow or the operation needs the general path.
func smallIntArith(op string, a, b int64) (Value, bool) {
	const lim = 1 << 62
	if a <= -lim || a >= lim || b <= -lim || b >= lim {
		return Value{}, false
	}
	switch op {
	case "+":
		return NewInt(a + b), true
	case "-":
		return NewInt(a - b), true
	case "*":
		if (a < 1<<31 && a > -(1<<31)) && (b < 1<<31 && b > -(1<<31)) {
			return NewInt(a * b), true
		}
	case "//", "%":
		if b == 0 {
			return Value{}, false
		}
		q, m := a/b, a%b
		if m != 0 && (m < 0) != (b < 0) {
			q--
			m += b
		}
		if op == "//" {
			return NewInt(q), true
		}
		return NewInt(m), true
	}
	return Value{}, false
}

func seqName(v Value) string {
	if v.IsList() && v.AsList().Tuple {
		return "tuple"
	}
	return pyTypeName(v)
}

// pyCompare evaluates <, >, <= and >= as Python does, with its TypeError
// for unordered pairs (str and int, None, dicts, ...).
func pyCompare(op string, a, b Value) (Value, error) {
	if a.IsUndefined() || b.IsUndefined() {
		return Undefined(), fmt.Errorf("undefined value in %q comparison", op)
	}
	var r bool
	var err error
	switch op {
	case "<":
		r, err = pyLess(a, b)
	case ">":
		r, err = pyLess(b, a)
	case "<=":
		r, err = pyLess(b, a)
		r = !r
	case ">=":
		r, err = pyLess(a, b)
		r = !r
	}
	if err != nil {
		return Undefined(), fmt.Errorf("'%s' not supported between instances of '%s' and '%s'", op, seqName(a), seqName(b))
	}
	return NewBool(r), nil
}
