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
			items := make([]Value, 0, a.AsList().Len()+b.AsList().Len())
			items = append(items, a.AsList().Items...)
			items = append(items, b.AsList().Items...)
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
			return Undefined(), fmt.Errorf("printf-style string formatting is not supported")
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
