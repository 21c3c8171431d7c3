// Modified by the speculators project (Python parity, limits); see README.md.

package jinja

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"
	"unicode"
)

// cachedBuiltins is a read-only scope populated once with all built-in
// globals and filters. It is shared across every render — no code path
// writes to the builtins scope (only chained reads through parent
// links and lookupFilter), so a single shared instance is safe and
// avoids ~20 allocations per render.
var cachedBuiltins = func() *scope {
	s := newScope(nil)
	registerGlobals(s)
	registerFilters(s)
	return s
}()

// =============================================================================
// Global functions
// =============================================================================

func registerGlobals(s *scope) {
	s.set("namespace", NewCallable(orderedKwargsNamespace, builtinNamespace))
	s.set("raise_exception", NewCallable("raise_exception", builtinRaiseException))
	s.set("range", NewCallable("range", builtinRange))
	s.set("joiner", NewCallable("joiner", builtinJoiner))
	s.set("dict", NewCallable(orderedKwargsDict, builtinDict))
	s.set("cycler", NewCallable("cycler", builtinCycler))
	s.set("strftime_now", NewCallable("strftime_now", builtinStrftimeNow))
}

// Callable names of the builtins that receive their keyword arguments in
// source order (Python keeps kwargs order): evalCallExpr passes them an
// ordered dict as the last positional argument (speculators fork).
const (
	orderedKwargsDict      = "builtin dict"
	orderedKwargsNamespace = "builtin namespace"
)

func builtinNamespace(args []Value, kwargs map[string]Value) (Value, error) {
	d := NewDict()
	dict := d.AsDict()
	dict.Namespace = true
	// namespace(dict) copies a mapping first, then the keyword arguments.
	for _, a := range args {
		if !a.IsDict() {
			return Undefined(), fmt.Errorf("namespace: positional argument must be a dict, not %s", pyTypeName(a))
		}
		src := a.AsDict()
		for _, k := range src.Keys {
			dict.Set(k, src.Data[k])
		}
	}
	keys := make([]string, 0, len(kwargs))
	for k := range kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dict.Set(k, kwargs[k])
	}
	return d, nil
}

func builtinRaiseException(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("raise_exception: missing message")
	}
	return Undefined(), fmt.Errorf("%s", printValue(args[0]))
}

func builtinRange(args []Value, kwargs map[string]Value) (Value, error) {
	var start, stop, step int64
	switch len(args) {
	case 1:
		start = 0
		stop = toInt64(args[0])
		step = 1
	case 2:
		start = toInt64(args[0])
		stop = toInt64(args[1])
		step = 1
	case 3:
		start = toInt64(args[0])
		stop = toInt64(args[1])
		step = toInt64(args[2])
	default:
		return Undefined(), fmt.Errorf("range: expected 1-3 arguments, got %d", len(args))
	}

	if step == 0 {
		return Undefined(), fmt.Errorf("range: step must not be zero")
	}

	var items []Value
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		if len(items) >= maxRange {
			return Undefined(), fmt.Errorf("range too big: the sandbox blocks ranges larger than %d", maxRange)
		}
		items = append(items, NewInt(i))
		if (step > 0 && i > math.MaxInt64-step) || (step < 0 && i < math.MinInt64-step) {
			break
		}
	}

	return NewList(items), nil
}

func builtinJoiner(args []Value, kwargs map[string]Value) (Value, error) {
	sep := ""
	if len(args) > 0 {
		sep = printValue(args[0])
	}

	first := true
	return NewCallable("joiner", func(args []Value, kwargs map[string]Value) (Value, error) {
		if first {
			first = false
			return NewString(""), nil
		}
		return NewString(sep), nil
	}), nil
}

func builtinDict(args []Value, kwargs map[string]Value) (Value, error) {
	d := NewDict()
	dict := d.AsDict()
	// dict(mapping or pairs, **kw): evalCallExpr hands the keyword
	// arguments over as an ordered dict after the positional ones.
	for _, a := range args {
		switch {
		case a.IsDict():
			src := a.AsDict()
			for _, k := range src.Keys {
				dict.Set(k, src.Data[k])
			}
		case a.IsList():
			for _, p := range a.AsList().Items {
				if !p.IsList() || p.AsList().Len() != 2 || !p.AsList().Items[0].IsString() {
					return Undefined(), fmt.Errorf("dict: sequence elements must be (str, value) pairs")
				}
				dict.Set(p.AsList().Items[0].AsString(), p.AsList().Items[1])
			}
		default:
			return Undefined(), fmt.Errorf("dict: '%s' object is not iterable", pyTypeName(a))
		}
	}
	keys := make([]string, 0, len(kwargs))
	for k := range kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dict.Set(k, kwargs[k])
	}
	return d, nil
}

func builtinStrftimeNow(args []Value, kwargs map[string]Value) (Value, error) {
	format := "%Y-%m-%d"
	if len(args) > 0 {
		format = printValue(args[0])
	}

	// Convert Python strftime format to Go time format.
	now := time.Now()
	goFmt := strftimeToGo(format)
	return NewString(now.Format(goFmt)), nil
}

// strftimeToGo converts a Python strftime format string to a Go time format.
func strftimeToGo(format string) string {
	r := strings.NewReplacer(
		"%Y", "2006",
		"%m", "01",
		"%d", "02",
		"%H", "15",
		"%M", "04",
		"%S", "05",
		"%B", "January",
		"%b", "Jan",
		"%A", "Monday",
		"%a", "Mon",
		"%p", "PM",
		"%I", "03",
		"%Z", "MST",
		"%%", "%",
	)
	return r.Replace(format)
}

func builtinCycler(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("cycler: expected at least one argument")
	}

	idx := 0
	items := make([]Value, len(args))
	copy(items, args)

	d := NewDict()
	dict := d.AsDict()
	dict.Set("current", items[0])
	dict.Set("next", NewCallable("cycler.next", func(a []Value, kw map[string]Value) (Value, error) {
		v := items[idx]
		idx = (idx + 1) % len(items)
		dict.Set("current", items[idx])
		return v, nil
	}))
	dict.Set("reset", NewCallable("cycler.reset", func(a []Value, kw map[string]Value) (Value, error) {
		idx = 0
		dict.Set("current", items[0])
		return None(), nil
	}))

	return d, nil
}

// =============================================================================
// Filter functions
// =============================================================================

func registerFilters(s *scope) {
	filters := map[string]func([]Value, map[string]Value) (Value, error){
		"tojson":     filterTojson,
		"from_json":  filterFromjson,
		"fromjson":   filterFromjson,
		"items":      filterItems,
		"join":       filterJoin,
		"default":    filterDefault,
		"d":          filterDefault,
		"trim":       filterTrim,
		"lower":      filterLower,
		"upper":      filterUpper,
		"title":      filterTitle,
		"capitalize": filterCapitalize,
		"first":      filterFirst,
		"last":       filterLast,
		"length":     filterLength,
		"count":      filterLength,
		"reverse":    filterReverse,
		"sort":       filterSort,
		"unique":     filterUnique,
		"list":       filterList,
		"int":        filterInt,
		"float":      filterFloatConv,
		"string":     filterString,
		"safe":       filterSafe,
		"replace":    filterReplace,
		"round":      filterRound,
		"abs":        filterAbs,
		"map":        filterMap,
		"select":     filterSelect,
		"reject":     filterReject,
		"selectattr": filterSelectattr,
		"rejectattr": filterRejectattr,
		"indent":     filterIndent,
		"wordcount":  filterWordcount,
		"escape":     filterEscape,
		"e":          filterEscape,
		"dictsort":   filterDictsort,
		"max":        minMax("max", true),
		"min":        minMax("min", false),
		"center":     filterCenter,
		"truncate":   filterTruncate,
		"format":     filterFormat,
		"sum":        filterSum,
		"batch":      filterBatch,
	}

	for name, fn := range filters {
		s.set("__filter_"+name, NewCallable(name, fn))
	}
	filterFuncs = filters
}

// filterFuncs lets map() apply a filter by name (speculators fork).
var filterFuncs map[string]func([]Value, map[string]Value) (Value, error)

// lookupFilter retrieves a filter callable from the scope chain.
func lookupFilter(s *scope, name string) (Value, bool) {
	return s.get("__filter_" + name)
}

// =============================================================================
// Test evaluation
// =============================================================================

func evalTest(name string, val Value, args []Value) (bool, error) {
	switch name {
	case "defined":
		return !val.IsUndefined(), nil
	case "undefined":
		return val.IsUndefined(), nil
	case "none":
		return val.IsNone(), nil
	case "boolean":
		return val.IsBool(), nil
	case "integer":
		return val.IsInt() || val.IsBigInt(), nil
	case "float":
		return val.IsFloat(), nil
	case "number":
		// Python's bool is a numbers.Number.
		return val.IsNumber() || val.IsBool(), nil
	case "string":
		return val.IsString(), nil
	case "mapping":
		return val.IsDict(), nil
	case "iterable":
		// jinja2.Undefined is iterable (it yields nothing).
		return val.IsList() || val.IsDict() || val.IsString() || val.IsUndefined(), nil
	case "sequence":
		// Anything with len() and [] in Python: str, dict and Undefined too.
		return val.IsList() || val.IsDict() || val.IsString() || val.IsUndefined(), nil
	case "callable":
		return val.IsCallable(), nil
	case "true":
		return val.IsBool() && val.AsBool(), nil
	case "false":
		return val.IsBool() && !val.AsBool(), nil
	case "eq", "equalto", "==":
		if len(args) < 1 {
			return false, fmt.Errorf("test %q requires an argument", name)
		}
		return pyEqual(val, args[0]), nil
	case "ne", "!=":
		if len(args) < 1 {
			return false, fmt.Errorf("test %q requires an argument", name)
		}
		return !pyEqual(val, args[0]), nil
	case "divisibleby":
		if len(args) < 1 {
			return false, fmt.Errorf("test %q requires an argument", name)
		}
		r, err := arith("%", val, args[0])
		if err != nil {
			return false, err
		}
		return pyEqual(r, NewInt(0)), nil
	case "gt", "greaterthan", ">":
		if len(args) < 1 {
			return false, nil
		}
		r, err := pyCompare(">", val, args[0])
		return r.IsTruthy(), err
	case "ge", ">=":
		if len(args) < 1 {
			return false, nil
		}
		r, err := pyCompare(">=", val, args[0])
		return r.IsTruthy(), err
	case "lt", "lessthan", "<":
		if len(args) < 1 {
			return false, nil
		}
		r, err := pyCompare("<", val, args[0])
		return r.IsTruthy(), err
	case "le", "<=":
		if len(args) < 1 {
			return false, nil
		}
		r, err := pyCompare("<=", val, args[0])
		return r.IsTruthy(), err
	case "in":
		if len(args) < 1 {
			return false, nil
		}
		return containsValue(args[0], val)
	case "odd", "even":
		// Jinja2: value % 2 == 1 (odd) or == 0 (even), with Python's %.
		r, err := arith("%", val, NewInt(2))
		if err != nil {
			return false, err
		}
		if name == "odd" {
			return pyEqual(r, NewInt(1)), nil
		}
		return pyEqual(r, NewInt(0)), nil
	case "upper", "lower":
		// str(value).isupper()/.islower(): all cased characters in that
		// case, and at least one cased character.
		s := pyStr(val)
		cased := false
		for _, r := range s {
			if unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) {
				cased = true
				if (name == "upper" && !unicode.IsUpper(r)) || (name == "lower" && !unicode.IsLower(r)) {
					return false, nil
				}
			}
		}
		return cased, nil
	case "sameas":
		if len(args) < 1 {
			return false, nil
		}
		// Identity: containers must be the same object.
		if val.IsList() || val.IsDict() {
			return val.kind == args[0].kind && val.v == args[0].v, nil
		}
		return val.Equals(args[0]), nil
	}

	return false, fmt.Errorf("unknown test %q", name)
}

// =============================================================================
// Filter implementations
// =============================================================================

// filterTojson is transformers' tojson: json.dumps(x, ensure_ascii=False,
// indent=None, separators=None, sort_keys=False), byte-exact with Python
// (speculators fork; upstream re-marshalled indent through Go maps).
func filterTojson(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("tojson: missing value")
	}
	names := []string{"ensure_ascii", "indent", "separators", "sort_keys"}
	opt := make(map[string]Value, 4)
	if len(args) > 1+len(names) {
		return Undefined(), fmt.Errorf("tojson: too many arguments")
	}
	for i, a := range args[1:] {
		opt[names[i]] = a
	}
	for k, v := range kwargs {
		known := false
		for _, n := range names {
			known = known || n == k
		}
		if !known {
			return Undefined(), fmt.Errorf("tojson: unexpected keyword argument %q", k)
		}
		if _, dup := opt[k]; dup {
			return Undefined(), fmt.Errorf("tojson: multiple values for argument %q", k)
		}
		opt[k] = v
	}
	o := jsonOptions{itemSep: ", ", keySep: ": "}
	if v, ok := opt["ensure_ascii"]; ok {
		o.ensureASCII = v.IsTruthy()
	}
	if v, ok := opt["sort_keys"]; ok {
		o.sortKeys = v.IsTruthy()
	}
	if v, ok := opt["indent"]; ok && !v.IsNone() {
		var ind string
		switch {
		case v.IsString():
			ind = v.AsString()
		case v.IsInt() || v.IsBool():
			n := toInt64(v)
			if n > 1<<10 {
				return Undefined(), fmt.Errorf("tojson: indent %d is too large", n)
			}
			if n > 0 {
				ind = strings.Repeat(" ", int(n))
			}
		default:
			return Undefined(), fmt.Errorf("tojson: indent must be an int or a string, not %s", v.String())
		}
		o.indent = &ind
		o.itemSep = ","
	}
	if v, ok := opt["separators"]; ok && !v.IsNone() {
		if !v.IsList() || v.AsList().Len() != 2 || !v.AsList().Items[0].IsString() || !v.AsList().Items[1].IsString() {
			return Undefined(), fmt.Errorf("tojson: separators must be two strings")
		}
		o.itemSep = v.AsList().Items[0].AsString()
		o.keySep = v.AsList().Items[1].AsString()
	}
	var sb strings.Builder
	if err := pyJSON(&sb, args[0], &o, 0); err != nil {
		return Undefined(), err
	}
	return NewString(sb.String()), nil
}

func filterFromjson(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 || !args[0].IsString() {
		return Undefined(), nil
	}

	var result any
	if err := json.Unmarshal([]byte(args[0].AsString()), &result); err != nil {
		return Undefined(), fmt.Errorf("fromjson: %w", err)
	}

	return FromGoValue(result), nil
}

func filterItems(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 || args[0].IsUndefined() {
		return NewList(nil), nil
	}

	// Python jinja2's |items filter raises TemplateError when applied to
	// anything that isn't a mapping, and several chat templates rely on
	// that error to bail out of an unsupported branch (e.g. when a
	// tool_call's `arguments` is a JSON string instead of an object).
	// Silently returning an empty list here let those templates render
	// invalid prompts. The wording deliberately matches Python jinja2 so
	// templates that surface this string get an identical message.
	if !args[0].IsDict() {
		//lint:ignore ST1005 message text mirrors Python jinja2 verbatim
		return Undefined(), fmt.Errorf("Can only get item pairs from a mapping.")
	}

	d := args[0].AsDict()
	items := make([]Value, 0, d.Len())
	for _, key := range d.Keys {
		pair := NewTuple([]Value{NewString(key), d.Data[key]})
		items = append(items, pair)
	}

	return NewList(items), nil
}

func filterDefault(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), nil
	}

	val := args[0]
	defVal := NewString("")
	if len(args) > 1 {
		defVal = args[1]
	}

	boolean := false
	if len(args) > 2 && args[2].IsBool() {
		boolean = args[2].AsBool()
	} else if b, ok := kwargs["boolean"]; ok && b.IsBool() {
		boolean = b.AsBool()
	}

	if val.IsUndefined() {
		return defVal, nil
	}

	if boolean && !val.IsTruthy() {
		return defVal, nil
	}

	return val, nil
}

func filterTrim(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	s := printValue(args[0])
	if len(args) > 1 {
		chars := printValue(args[1])
		s = pyStrip(s, &chars, true, true)
	} else {
		s = pyStrip(s, nil, true, true)
	}
	return NewString(s), nil
}

func filterLower(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	return NewString(strings.ToLower(printValue(args[0]))), nil
}

func filterUpper(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	return NewString(strings.ToUpper(printValue(args[0]))), nil
}

func filterCapitalize(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	return NewString(pyCapitalize(printValue(args[0]))), nil
}

func filterLength(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewInt(0), nil
	}

	v := args[0]
	switch {
	case v.IsList():
		return NewInt(int64(v.AsList().Len())), nil
	case v.IsDict():
		return NewInt(int64(v.AsDict().Len())), nil
	case v.IsString():
		return NewInt(int64(len([]rune(v.AsString())))), nil
	case v.IsUndefined():
		return NewInt(0), nil
	}

	return Undefined(), fmt.Errorf("object of type '%s' has no len()", pyTypeName(v))
}

func filterReverse(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewList(nil), nil
	}

	v := args[0]
	if v.IsString() {
		runes := []rune(v.AsString())
		for i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
			runes[i], runes[j] = runes[j], runes[i]
		}
		return NewString(string(runes)), nil
	}

	if v.IsList() {
		src := v.AsList().Items
		items := make([]Value, len(src))
		for i, item := range src {
			items[len(src)-1-i] = item
		}
		return NewList(items), nil
	}

	return v, nil
}

func filterString(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	return NewString(printValue(args[0])), nil
}

func filterSafe(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	return args[0], nil
}

func filterReplace(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) < 3 {
		return NewString(""), fmt.Errorf("replace: expected at least 3 arguments")
	}
	s := printValue(args[0])
	old := printValue(args[1])
	newStr := printValue(args[2])

	count := -1
	if len(args) > 3 {
		count = int(toInt64(args[3]))
	}
	if c, ok := kwargs["count"]; ok {
		count = int(toInt64(c))
	}

	return NewString(strings.Replace(s, old, newStr, count)), nil
}

func filterAbs(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewInt(0), nil
	}

	v := args[0]
	if v.IsInt() {
		n := v.AsInt()
		if n < 0 {
			n = -n
		}
		return NewInt(n), nil
	}
	if v.IsFloat() {
		return NewFloat(math.Abs(v.AsFloat())), nil
	}
	if v.IsBool() {
		return NewInt(toInt64(v)), nil
	}
	if v.IsBigInt() {
		return NewBigInt(new(big.Int).Abs(v.v.(*big.Int))), nil
	}

	return Undefined(), fmt.Errorf("bad operand type for abs(): '%s'", pyTypeName(v))
}

// filterMap is Jinja2's map: map(attribute="a.b", default=...) or
// map("filter", *args) (speculators fork: upstream ignored the filter form).
func filterMap(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return Undefined(), fmt.Errorf("map: missing value")
	}
	if !args[0].IsTruthy() {
		return NewList(nil), nil // Jinja2's map yields nothing for a falsy value
	}
	items, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	out := make([]Value, len(items))
	if attr, ok := kwargs["attribute"]; ok && len(args) == 1 {
		get := attrGetter(pyStr(attr))
		def, hasDef := kwargs["default"]
		for i, it := range items {
			v, err := get(it)
			if err != nil {
				return Undefined(), err
			}
			if v.IsUndefined() && hasDef {
				v = def
			}
			out[i] = v
		}
		return NewList(out), nil
	}
	if len(args) < 2 {
		return Undefined(), fmt.Errorf("map requires a filter argument")
	}
	name := pyStr(args[1])
	fn, ok := filterFuncs[name]
	if !ok {
		return Undefined(), fmt.Errorf("map: no filter named %q", name)
	}
	for i, it := range items {
		fargs := append([]Value{it}, args[2:]...)
		v, err := fn(fargs, kwargs)
		if err != nil {
			return Undefined(), err
		}
		out[i] = v
	}
	return NewList(out), nil
}

func filterSelect(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewList(nil), nil
	}
	// Jinja2's select_or_reject yields nothing for a falsy value.
	if !args[0].IsTruthy() {
		return NewList(nil), nil
	}
	src, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	list := &List{Items: src}
	testName := ""
	if len(args) > 1 && args[1].IsString() {
		testName = args[1].AsString()
	}

	var testArgs []Value
	if len(args) > 2 {
		testArgs = args[2:]
	}

	var items []Value
	for _, item := range list.Items {
		if testName == "" {
			if item.IsTruthy() {
				items = append(items, item)
			}
		} else {
			result, err := evalTest(testName, item, testArgs)
			if err != nil {
				return Undefined(), err
			}
			if result {
				items = append(items, item)
			}
		}
	}

	return NewList(items), nil
}

func filterReject(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewList(nil), nil
	}
	// Jinja2's select_or_reject yields nothing for a falsy value.
	if !args[0].IsTruthy() {
		return NewList(nil), nil
	}
	src, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	list := &List{Items: src}
	testName := ""
	if len(args) > 1 && args[1].IsString() {
		testName = args[1].AsString()
	}

	var testArgs []Value
	if len(args) > 2 {
		testArgs = args[2:]
	}

	var items []Value
	for _, item := range list.Items {
		if testName == "" {
			if !item.IsTruthy() {
				items = append(items, item)
			}
		} else {
			result, err := evalTest(testName, item, testArgs)
			if err != nil {
				return Undefined(), err
			}
			if !result {
				items = append(items, item)
			}
		}
	}

	return NewList(items), nil
}

func filterSelectattr(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) < 2 {
		return Undefined(), fmt.Errorf("missing parameter for attribute name")
	}
	// Jinja2's select_or_reject yields nothing for a falsy value.
	if !args[0].IsTruthy() {
		return NewList(nil), nil
	}
	src, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	list := &List{Items: src}
	attrName := printValue(args[1])
	testName := "truthy"
	if len(args) > 2 {
		testName = printValue(args[2])
	}

	var testArgs []Value
	if len(args) > 3 {
		testArgs = args[3:]
	}

	var items []Value
	for _, item := range list.Items {
		attrVal, err := attrGetter(attrName)(item)
		if err != nil {
			return Undefined(), err
		}

		if testName == "truthy" {
			if attrVal.IsTruthy() {
				items = append(items, item)
			}
		} else {
			result, err := evalTest(testName, attrVal, testArgs)
			if err != nil {
				return Undefined(), err
			}
			if result {
				items = append(items, item)
			}
		}
	}

	return NewList(items), nil
}

func filterRejectattr(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) < 2 {
		return Undefined(), fmt.Errorf("missing parameter for attribute name")
	}
	// Jinja2's select_or_reject yields nothing for a falsy value.
	if !args[0].IsTruthy() {
		return NewList(nil), nil
	}
	src, err := iterItems(args[0])
	if err != nil {
		return Undefined(), err
	}
	list := &List{Items: src}
	attrName := printValue(args[1])
	testName := "truthy"
	if len(args) > 2 {
		testName = printValue(args[2])
	}

	var testArgs []Value
	if len(args) > 3 {
		testArgs = args[3:]
	}

	var items []Value
	for _, item := range list.Items {
		attrVal, err := attrGetter(attrName)(item)
		if err != nil {
			return Undefined(), err
		}

		if testName == "truthy" {
			if !attrVal.IsTruthy() {
				items = append(items, item)
			}
		} else {
			result, err := evalTest(testName, attrVal, testArgs)
			if err != nil {
				return Undefined(), err
			}
			if !result {
				items = append(items, item)
			}
		}
	}

	return NewList(items), nil
}

func filterWordcount(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewInt(0), nil
	}
	// Jinja2 counts matches of \w+.
	words := strings.FieldsFunc(printValue(args[0]), func(r rune) bool {
		return !(r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r))
	})
	return NewInt(int64(len(words))), nil
}

func filterEscape(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewString(""), nil
	}
	s := printValue(args[0])
	s = strings.ReplaceAll(s, "&", "&amp;")
	s = strings.ReplaceAll(s, "<", "&lt;")
	s = strings.ReplaceAll(s, ">", "&gt;")
	s = strings.ReplaceAll(s, `"`, "&quot;")
	s = strings.ReplaceAll(s, "'", "&#39;")
	return NewString(s), nil
}

func filterDictsort(args []Value, kwargs map[string]Value) (Value, error) {
	if len(args) == 0 {
		return NewList(nil), nil
	}
	if !args[0].IsDict() {
		return Undefined(), fmt.Errorf("'%s' object has no attribute 'items'", pyTypeName(args[0]))
	}

	d := args[0].AsDict()
	reverse := false
	if r, ok := kwargs["reverse"]; ok && r.IsBool() {
		reverse = r.AsBool()
	}

	keys := make([]string, len(d.Keys))
	copy(keys, d.Keys)

	sort.SliceStable(keys, func(i, j int) bool {
		if reverse {
			return keys[i] > keys[j]
		}
		return keys[i] < keys[j]
	})

	items := make([]Value, len(keys))
	for i, key := range keys {
		items[i] = NewTuple([]Value{NewString(key), d.Data[key]})
	}

	return NewList(items), nil
}

// =============================================================================
// Helpers
// =============================================================================

func toInt64(v Value) int64 {
	switch {
	case v.IsBigInt():
		if v.v.(*big.Int).Sign() < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	case v.IsInt():
		return v.AsInt()
	case v.IsFloat():
		return int64(v.AsFloat())
	case v.IsBool():
		if v.AsBool() {
			return 1
		}
		return 0
	case v.IsString():
		s := v.AsString()
		var n int64
		fmt.Sscanf(s, "%d", &n)
		return n
	}
	return 0
}

func toFloat64(v Value) float64 {
	switch {
	case v.IsBigInt():
		f, _ := new(big.Float).SetInt(v.v.(*big.Int)).Float64()
		return f
	case v.IsFloat():
		return v.AsFloat()
	case v.IsInt():
		return float64(v.AsInt())
	case v.IsBool():
		if v.AsBool() {
			return 1
		}
		return 0
	case v.IsString():
		s := v.AsString()
		var f float64
		fmt.Sscanf(s, "%f", &f)
		return f
	}
	return 0
}

func containsValue(container, item Value) (bool, error) {
	switch {
	case container.IsList():
		for _, v := range container.AsList().Items {
			if pyEqual(v, item) {
				return true, nil
			}
		}
		return false, nil
	case container.IsDict():
		if item.IsList() && !item.AsList().Tuple || item.IsDict() {
			return false, fmt.Errorf("unhashable type: '%s'", pyTypeName(item))
		}
		return item.IsString() && container.AsDict().Has(item.AsString()), nil
	case container.IsString():
		if !item.IsString() {
			return false, fmt.Errorf("'in <string>' requires string as left operand, not %s", pyTypeName(item))
		}
		return strings.Contains(container.AsString(), item.AsString()), nil
	case container.IsUndefined():
		// jinja2.Undefined iterates as empty.
		return false, nil
	}
	return false, fmt.Errorf("argument of type '%s' is not iterable", pyTypeName(container))
}

// valueToGo converts a Value back to a plain Go type suitable for
// json.Marshal.
func valueToGo(v Value) any {
	switch v.kind {
	case KindUndefined, KindNone:
		return nil
	case KindBool:
		return v.AsBool()
	case KindInt:
		return v.AsInt()
	case KindFloat:
		return v.AsFloat()
	case KindString:
		return v.AsString()
	case KindList:
		list := v.AsList()
		out := make([]any, list.Len())
		for i, item := range list.Items {
			out[i] = valueToGo(item)
		}
		return out
	case KindDict:
		d := v.AsDict()
		out := make(map[string]any, d.Len())
		for _, key := range d.Keys {
			out[key] = valueToGo(d.Data[key])
		}
		return out
	case KindCallable:
		return nil
	}
	return nil
}

// printValue converts a Value to its template output string: Python's str()
// as Jinja2 prints it (see pyStr).
func printValue(v Value) string { return pyStr(v) }
