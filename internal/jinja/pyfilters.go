package jinja

// Filters and helpers rewritten to follow Jinja2 3.1's filters and Python's
// semantics (speculators fork): iteration of dicts and strings, case-
// insensitive sort/unique/min/max, Python equality across int/float/bool,
// and TypeErrors where Python raises them.

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// iterItems returns what Python's iter() yields for v: list items, dict
// keys, string characters; Undefined iterates as empty.
func iterItems(v Value) ([]Value, error) {
	switch v.kind {
	case KindList:
		return v.AsList().Items, nil
	case KindDict:
		keys := v.AsDict().Keys
		out := make([]Value, len(keys))
		for i, k := range keys {
			out[i] = NewString(k)
		}
		return out, nil
	case KindString:
		var out []Value
		for _, r := range v.AsString() {
			out = append(out, NewString(string(r)))
		}
		return out, nil
	case KindUndefined:
		return nil, nil
	}
	return nil, fmt.Errorf("'%s' object is not iterable", pyTypeName(v))
}

// pyEqual is Python's ==: numbers (and bools) compare by value, containers
// element-wise.
func pyEqual(a, b Value) bool { return pyEqualDepth(a, b, 0) }

func pyEqualDepth(a, b Value, depth int) bool {
	if depth > maxNesting {
		return false
	}
	an := a.IsNumber() || a.IsBool()
	bn := b.IsNumber() || b.IsBool()
	if an && bn {
		ai, aInt := bigOf(a)
		bi, bInt := bigOf(b)
		if aInt && bInt {
			return ai.Cmp(bi) == 0
		}
		return toFloat64(a) == toFloat64(b)
	}
	if a.kind != b.kind {
		return a.IsUndefined() && b.IsUndefined()
	}
	switch a.kind {
	case KindList:
		x, y := a.AsList().Items, b.AsList().Items
		if len(x) != len(y) || a.AsList().Tuple != b.AsList().Tuple {
			return false
		}
		for i := range x {
			if !pyEqualDepth(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case KindDict:
		x, y := a.AsDict(), b.AsDict()
		if x.Len() != y.Len() {
			return false
		}
		for _, k := range x.Keys {
			yv, ok := y.Get(k)
			if !ok || !pyEqualDepth(x.Data[k], yv, depth+1) {
				return false
			}
		}
		return true
	}
	return a.Equals(b)
}

// attrGetter follows Jinja2's make_attrgetter: "a.b" and "a.0" paths
// through dict keys and list indexes. A missing last part is undefined; a
// missing part before it is an error, as getattr on Undefined raises.
func attrGetter(path string) func(Value) (Value, error) {
	parts := strings.Split(path, ".")
	return func(v Value) (Value, error) {
		for i, p := range parts {
			if v.IsUndefined() && i > 0 {
				return Undefined(), fmt.Errorf("undefined value has no attribute '%s' (in %q)", p, path)
			}
			switch {
			case v.IsDict():
				x, ok := v.AsDict().Get(p)
				if !ok {
					x = Undefined()
				}
				v = x
			case v.IsList():
				i, err := strconv.Atoi(p)
				if err != nil || i < 0 || i >= v.AsList().Len() {
					v = Undefined()
				} else {
					v = v.AsList().Items[i]
				}
			default:
				v = Undefined()
			}
		}
		return v, nil
	}
}

// sortKey builds the key function of sort/unique/min/max: the optional
// attribute, lower-cased when the filter ignores case.
func sortKey(kwargs map[string]Value, caseSensitive bool) func(Value) (Value, error) {
	get := func(v Value) (Value, error) { return v, nil }
	if a, ok := kwargs["attribute"]; ok && !a.IsNone() {
		get = attrGetter(pyStr(a))
	}
	return func(v Value) (Value, error) {
		v, err := get(v)
		if err != nil {
			return Undefined(), err
		}
		if !caseSensitive && v.IsString() {
			return NewString(strings.ToLower(v.AsString())), nil
		}
		return v, nil
	}
}

// pyLess orders values as Python's < does for sortable pairs and reports
// an error for pairs Python refuses to compare.
func pyLess(a, b Value) (bool, error) { return pyLessDepth(a, b, 0) }

func pyLessDepth(a, b Value, depth int) (bool, error) {
	if depth > maxNesting {
		return false, fmt.Errorf("maximum recursion depth exceeded in comparison")
	}
	an := a.IsNumber() || a.IsBool()
	bn := b.IsNumber() || b.IsBool()
	switch {
	case an && bn:
		ai, aInt := bigOf(a)
		bi, bInt := bigOf(b)
		if aInt && bInt {
			return ai.Cmp(bi) < 0, nil
		}
		return toFloat64(a) < toFloat64(b), nil
	case a.IsString() && b.IsString():
		return a.AsString() < b.AsString(), nil
	case a.IsList() && b.IsList():
		x, y := a.AsList().Items, b.AsList().Items
		for i := 0; i < len(x) && i < len(y); i++ {
			if pyEqualDepth(x[i], y[i], depth+1) {
				continue
			}
			return pyLessDepth(x[i], y[i], depth+1)
		}
		return len(x) < len(y), nil
	}
	return false, fmt.Errorf("'<' not supported between instances of '%s' and '%s'", pyTypeName(a), pyTypeName(b))
}

func boolArg(args []Value, i int, kwargs map[string]Value, name string, def bool) bool {
	if v, ok := kwargs[name]; ok {
		return v.IsTruthy()
	}
	if len(args) > i {
		return args[i].IsTruthy()
	}
	return def
}

func filterSort(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("sort: missing value")
	}
	src, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	reverse := boolArg(args, 1, kwargs, "reverse", false)
	caseSensitive := boolArg(args, 2, kwargs, "case_sensitive", false)
	key := sortKey(kwargs, caseSensitive)
	if a, ok := kwargs["attribute"]; ok && !a.IsNone() {
		// Jinja2's sort takes "a,b" attribute lists and compares the
		// key lists, so equal (even undefined) keys never reach "<".
		var getters []func(Value) (Value, error)
		for _, part := range strings.Split(pyStr(a), ",") {
			getters = append(getters, sortKey(map[string]Value{"attribute": NewString(strings.TrimSpace(part))}, caseSensitive))
		}
		key = func(v Value) (Value, error) {
			parts := make([]Value, len(getters))
			for i, g := range getters {
				x, err := g(v)
				if err != nil {
					return Undefined(), err
				}
				parts[i] = x
			}
			return NewList(parts), nil
		}
	}
	items := append([]Value(nil), src...)
	keys := make([]Value, len(items))
	for i, it := range items {
		if keys[i], err = key(it); err != nil {
			return Undefined(), err
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var cmpErr error
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := keys[idx[i]], keys[idx[j]]
		if reverse {
			a, b = b, a
		}
		less, err := pyLess(a, b)
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		return less
	})
	if cmpErr != nil {
		return Undefined(), fmt.Errorf("sort: %w", cmpErr)
	}
	out := make([]Value, len(items))
	for i, k := range idx {
		out[i] = items[k]
	}
	return NewList(out), nil
}

func filterUnique(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("unique: missing value")
	}
	src, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	key := sortKey(kwargs, boolArg(args, 1, kwargs, "case_sensitive", false))
	var seen []Value
	var out []Value
	for _, it := range src {
		k, err := key(it)
		if err != nil {
			return Undefined(), err
		}
		if k.IsDict() || (k.IsList() && !k.AsList().Tuple) {
			return Undefined(), fmt.Errorf("unique: unhashable type: '%s'", pyTypeName(k))
		}
		dup := false
		for _, s := range seen {
			if pyEqual(s, k) {
				dup = true
				break
			}
		}
		if !dup {
			seen = append(seen, k)
			out = append(out, it)
		}
	}
	return NewList(out), nil
}

func minMax(name string, wantMax bool) func([]Value, map[string]Value) (Value, error) {
	return func(args []Value, kwargs map[string]Value) (Value, error) {
		if len(args) == 0 {
			return Undefined(), fmt.Errorf("%s: missing value", name)
		}
		src, err := iterItems(args[0])
		if err != nil {
			return Undefined(), err
		}
		if len(src) == 0 {
			return Undefined(), nil
		}
		key := sortKey(kwargs, boolArg(args, 1, kwargs, "case_sensitive", false))
		best := src[0]
		bestKey, err := key(best)
		if err != nil {
			return Undefined(), err
		}
		for _, it := range src[1:] {
			k, err := key(it)
			if err != nil {
				return Undefined(), err
			}
			a, b := k, bestKey
			if wantMax {
				a, b = bestKey, k
			}
			less, err := pyLess(a, b)
			if err != nil {
				return Undefined(), fmt.Errorf("%s: %w", name, err)
			}
			if less {
				best, bestKey = it, k
			}
		}
		return best, nil
	}
}

func filterFirst(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), nil
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	if len(items) == 0 {
		return Undefined(), nil
	}
	return items[0], nil
}

func filterLast(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), nil
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	if len(items) == 0 {
		return Undefined(), nil
	}
	return items[len(items)-1], nil
}

func filterList(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewList(nil), nil
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	return NewList(append([]Value(nil), items...)), nil
}

func filterJoin(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	sep := ""
	if len(args) > 1 {
		sep = pyStr(args[1])
	}
	if s, ok := kwargs["d"]; ok {
		sep = pyStr(s)
	}
	get := func(v Value) (Value, error) { return v, nil }
	if a, ok := kwargs["attribute"]; ok && !a.IsNone() {
		get = attrGetter(pyStr(a))
	} else if len(args) > 2 && !args[2].IsNone() {
		get = attrGetter(pyStr(args[2]))
	}
	parts := make([]string, len(items))
	for i, it := range items {
		v, err := get(it)
		if err != nil {
			return Undefined(), err
		}
		parts[i] = pyStr(v)
	}
	return NewString(strings.Join(parts, sep)), nil
}

func filterSum(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("sum: missing value")
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	get := func(v Value) (Value, error) { return v, nil }
	if a, ok := kwargs["attribute"]; ok && !a.IsNone() {
		get = attrGetter(pyStr(a))
	} else if len(args) > 1 && !args[1].IsNone() {
		get = attrGetter(pyStr(args[1]))
	}
	total := NewInt(0)
	if s, ok := kwargs["start"]; ok {
		total = s
	} else if len(args) > 2 {
		total = args[2]
	}
	for _, it := range items {
		v, err := get(it)
		if err != nil {
			return Undefined(), err
		}
		if v.IsUndefined() {
			return Undefined(), fmt.Errorf("sum: undefined attribute")
		}
		if total, err = arith("+", total, v); err != nil {
			return Undefined(), err
		}
	}
	return total, nil
}

// filterInt is Jinja2's int: int(value) for numbers, int(str) with base
// 10, falling back to int(float(str)), else the default.
func filterInt(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewInt(0), nil
	}
	def := NewInt(0)
	if len(args) > 1 {
		def = args[1]
	}
	if d, ok := kwargs["default"]; ok {
		def = d
	}
	v := args[0]
	switch v.kind {
	case KindInt, KindBigInt:
		return v, nil
	case KindBool:
		return NewInt(toInt64(v)), nil
	case KindFloat:
		f := v.AsFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return def, nil
		}
		b, _ := new(big.Float).SetFloat64(math.Trunc(f)).Int(nil)
		return NewBigInt(b), nil
	case KindString:
		s := strings.TrimSpace(v.AsString())
		s = strings.ReplaceAll(s, "_", "")
		var b big.Int
		if _, ok := b.SetString(s, 10); ok && s != "" {
			return NewBigInt(&b), nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			bi, _ := new(big.Float).SetFloat64(math.Trunc(f)).Int(nil)
			return NewBigInt(bi), nil
		}
	}
	return def, nil
}

func filterFloatConv(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewFloat(0), nil
	}
	def := NewFloat(0)
	if len(args) > 1 {
		def = args[1]
	}
	if d, ok := kwargs["default"]; ok {
		def = d
	}
	v := args[0]
	switch v.kind {
	case KindInt, KindBigInt, KindBool, KindFloat:
		return NewFloat(toFloat64(v)), nil
	case KindString:
		s := strings.TrimSpace(v.AsString())
		switch strings.ToLower(s) {
		case "inf", "+inf", "infinity", "+infinity":
			return NewFloat(math.Inf(1)), nil
		case "-inf", "-infinity":
			return NewFloat(math.Inf(-1)), nil
		case "nan", "+nan", "-nan":
			return NewFloat(math.NaN()), nil
		}
		if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
			return NewFloat(f), nil
		}
	}
	return def, nil
}

func filterRound(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewFloat(0), nil
	}
	precision := int64(0)
	if len(args) > 1 {
		precision = toInt64(args[1])
	}
	if p, ok := kwargs["precision"]; ok {
		precision = toInt64(p)
	}
	if !args[0].IsNumber() && !args[0].IsBool() {
		return Undefined(), fmt.Errorf("type %s doesn't define __round__ method", pyTypeName(args[0]))
	}
	method := "common"
	if len(args) > 2 {
		method = pyStr(args[2])
	}
	if m, ok := kwargs["method"]; ok {
		method = pyStr(m)
	}
	if method == "common" && !args[0].IsFloat() {
		// round() of an int (or bool) is an int; negative precisions
		// round to tens, hundreds, ...
		v := args[0]
		if v.IsBool() {
			v = NewInt(toInt64(v))
		}
		if precision >= 0 {
			return v, nil
		}
	}
	f := toFloat64(args[0])
	if precision > 300 || precision < -300 {
		return NewFloat(f), nil
	}
	pow := math.Pow(10, float64(precision))
	switch method {
	case "common":
		// Python's round() rounds half to even on the exact binary value;
		// formatting to the precision does the same.
		if precision >= 0 {
			r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(precision), 64), 64)
			if err == nil {
				return NewFloat(r), nil
			}
		}
		return NewFloat(math.RoundToEven(f*pow) / pow), nil
	case "floor":
		return NewFloat(math.Floor(f*pow) / pow), nil
	case "ceil":
		return NewFloat(math.Ceil(f*pow) / pow), nil
	}
	return Undefined(), fmt.Errorf("round: method must be common, ceil or floor")
}

// pySplitlines is str.splitlines(): it breaks on \n, \r, \r\n, \v, \f,
// \x1c-\x1e, \x85, \u2028 and \u2029, without keeping the breaks.
func pySplitlines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, s[start:i])
			i += size
			if r == '\r' && i < len(s) && s[i] == '\n' {
				i++
			}
			start = i
			continue
		}
		i += size
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// filterIndent is Jinja2 3.1's indent(s, width=4, first=False, blank=False).
func filterIndent(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	if !args[0].IsString() {
		return Undefined(), fmt.Errorf("indent: expected a string, got %s", pyTypeName(args[0]))
	}
	s := args[0].AsString()
	width := NewInt(4)
	if len(args) > 1 {
		width = args[1]
	}
	if w, ok := kwargs["width"]; ok {
		width = w
	}
	var ind string
	if width.IsString() {
		ind = width.AsString()
	} else {
		n := toInt64(width)
		if n > 1<<16 {
			return Undefined(), fmt.Errorf("indent: width too large")
		}
		if n > 0 {
			ind = strings.Repeat(" ", int(n))
		}
	}
	first := boolArg(args, 2, kwargs, "first", false)
	blank := boolArg(args, 3, kwargs, "blank", false)
	lines := pySplitlines(s + "\n")
	var rv string
	if blank {
		rv = strings.Join(lines, "\n"+ind)
	} else {
		rv = lines[0]
		if len(lines) > 1 {
			rest := make([]string, len(lines)-1)
			for i, l := range lines[1:] {
				if l != "" {
					l = ind + l
				}
				rest[i] = l
			}
			rv += "\n" + strings.Join(rest, "\n")
		}
	}
	if first {
		rv = ind + rv
	}
	return NewString(rv), nil
}

func filterBatch(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) < 2 {
		return Undefined(), fmt.Errorf("batch: missing line count")
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	n := int(toInt64(args[1]))
	if n <= 0 {
		return Undefined(), fmt.Errorf("batch: line count must be positive")
	}
	var fill *Value
	if len(args) > 2 && !args[2].IsNone() {
		fill = &args[2]
	}
	if f, ok := kwargs["fill_with"]; ok && !f.IsNone() {
		fill = &f
	}
	var out []Value
	for i := 0; i < len(items); i += n {
		end := min(i+n, len(items))
		b := append([]Value(nil), items[i:end]...)
		for fill != nil && len(b) < n {
			b = append(b, *fill)
		}
		out = append(out, NewList(b))
	}
	return NewList(out), nil
}

var wordBeginning = regexp.MustCompile(`[-\s({\[<]+`)

// filterTitle is Jinja2's title: each piece between runs of "-", spaces and
// opening brackets gets its first character upper-cased and the rest
// lower-cased.
func filterTitle(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	s := pyStr(args[0])
	var b strings.Builder
	last := 0
	emit := func(piece string) {
		if piece == "" {
			return
		}
		r, size := utf8.DecodeRuneInString(piece)
		b.WriteString(string(unicode.ToTitle(r)))
		b.WriteString(strings.ToLower(piece[size:]))
	}
	for _, loc := range wordBeginning.FindAllStringIndex(s, -1) {
		emit(s[last:loc[0]])
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	emit(s[last:])
	return NewString(b.String()), nil
}

func filterCenter(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	s := pyStr(args[0])
	width := int64(80)
	if len(args) > 1 {
		width = toInt64(args[1])
	}
	if w, ok := kwargs["width"]; ok {
		width = toInt64(w)
	}
	n := int64(utf8.RuneCountInString(s))
	if width <= n {
		return NewString(s), nil
	}
	if width > 1<<20 {
		return Undefined(), fmt.Errorf("center: width too large")
	}
	pad := width - n
	left := pad/2 + (pad & width & 1) // CPython's str.center
	return NewString(strings.Repeat(" ", int(left)) + s + strings.Repeat(" ", int(pad-left))), nil
}

// filterTruncate is Jinja2's truncate(s, length=255, killwords=False,
// end='...', leeway=5).
func filterTruncate(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	if args[0].IsList() {
		// Sequences come back unchanged when short enough; cutting one
		// and adding the end string is a TypeError in Python.
		length := int64(255)
		if len(args) > 1 {
			length = toInt64(args[1])
		}
		if l, ok := kwargs["length"]; ok {
			length = toInt64(l)
		}
		leeway := int64(5)
		if len(args) > 4 {
			leeway = toInt64(args[4])
		}
		if l, ok := kwargs["leeway"]; ok {
			leeway = toInt64(l)
		}
		if int64(args[0].AsList().Len()) <= length+leeway {
			return args[0], nil
		}
		return Undefined(), fmt.Errorf("truncate: can only concatenate list to list")
	}
	if !args[0].IsString() {
		return Undefined(), fmt.Errorf("truncate: object of type '%s' has no len()", pyTypeName(args[0]))
	}
	s := []rune(args[0].AsString())
	get := func(i int, name string, def Value) Value {
		if v, ok := kwargs[name]; ok {
			return v
		}
		if len(args) > i {
			return args[i]
		}
		return def
	}
	length := int(toInt64(get(1, "length", NewInt(255))))
	killwords := get(2, "killwords", NewBool(false)).IsTruthy()
	end := []rune(pyStr(get(3, "end", NewString("..."))))
	leeway := int(toInt64(get(4, "leeway", NewInt(5))))
	if length < len(end) || leeway < 0 {
		return Undefined(), fmt.Errorf("truncate: bad length or leeway")
	}
	if len(s) <= length+leeway {
		return NewString(string(s)), nil
	}
	head := string(s[:length-len(end)])
	if !killwords {
		if i := strings.LastIndex(head, " "); i >= 0 {
			head = head[:i]
		}
	}
	return NewString(head + string(end)), nil
}

// filterFormat is Jinja2's format: printf-style value % args for the
// common conversions (%s %r %d %i %f %x %o %e %g %%).
func filterFormat(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	return pyPercent(pyStr(args[0]), args[1:])
}

var percentSpec = regexp.MustCompile(`%([-+ 0#]*)(\d+)?(?:\.(\d+))?([srdifxXoeEgG%])`)

func pyPercent(format string, args []Value) (Value, error) {
	return pyPercentMapping(format, args, false)
}

// pyPercentMapping formats; mappingArg is set when the single argument is
// a list or dict, which Python treats as a mapping and then does not
// complain about unused arguments.
func pyPercentMapping(format string, args []Value, mappingArg bool) (Value, error) {
	var b strings.Builder
	last, next := 0, 0
	for _, m := range percentSpec.FindAllStringSubmatchIndex(format, -1) {
		b.WriteString(format[last:m[0]])
		last = m[1]
		flags := format[m[2]:m[3]]
		width, prec := "", ""
		if m[4] >= 0 {
			width = format[m[4]:m[5]]
		}
		if m[6] >= 0 {
			prec = "." + format[m[6]:m[7]]
		}
		conv := format[m[8]:m[9]]
		if conv == "%" {
			b.WriteByte('%')
			continue
		}
		if next >= len(args) {
			return Undefined(), fmt.Errorf("format: not enough arguments for format string")
		}
		a := args[next]
		next++
		spec := "%" + flags + width + prec
		switch conv {
		case "s":
			b.WriteString(fmt.Sprintf(spec+"s", pyStr(a)))
		case "r":
			b.WriteString(fmt.Sprintf(spec+"s", a.String()))
		case "d", "i":
			if !a.IsNumber() && !a.IsBool() {
				return Undefined(), fmt.Errorf("format: %%d format: a real number is required, not %s", pyTypeName(a))
			}
			iv, _ := filterInt([]Value{a}, nil)
			b.WriteString(fmt.Sprintf(spec+"s", pyStr(iv)))
		default:
			if !a.IsNumber() && !a.IsBool() {
				return Undefined(), fmt.Errorf("format: a real number is required, not %s", pyTypeName(a))
			}
			if (conv == "f" || conv == "e" || conv == "E") && prec == "" {
				spec += ".6"
			}
			if conv == "x" || conv == "X" || conv == "o" {
				b.WriteString(fmt.Sprintf(spec+conv, toInt64(a)))
			} else {
				b.WriteString(fmt.Sprintf(spec+conv, toFloat64(a)))
			}
		}
	}
	b.WriteString(format[last:])
	if next < len(args) && !mappingArg {
		return Undefined(), fmt.Errorf("format: not all arguments converted during string formatting")
	}
	return NewString(b.String()), nil
}
