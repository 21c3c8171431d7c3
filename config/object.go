package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Object is embedded in every config struct. It remembers which keys the
// file had and keeps the keys this package does not know, so that a config
// read and written again comes out unchanged, and a key absent from the file
// stays absent even when it has a default.
//
// A known key is written when the file had it, when Keep named it, or when
// its field changed: for a parsed config, differs from the value read (or the
// default filled in for an absent key); for a config built in Go, is not the
// zero value.
type Object struct {
	// Extra holds the keys this package does not know, as decoded JSON
	// (json.Number for numbers, []any, map[string]any, string, bool, nil).
	Extra map[string]any

	present map[string]bool
	orig    map[string]any // field values after parsing, defaults included; nil when built in Go
}

// Has reports whether key was in the parsed file or has been kept.
func (o *Object) Has(key string) bool { return o.present[key] }

// Keep marks keys to be written even when their fields hold zero values (as
// Python writes every pydantic field, false and null included).
func (o *Object) Keep(keys ...string) {
	if o.present == nil {
		o.present = map[string]bool{}
	}
	for _, k := range keys {
		o.present[k] = true
	}
}

// Omit marks keys not to be written unless their fields change later.
func (o *Object) Omit(keys ...string) {
	for _, k := range keys {
		delete(o.present, k)
	}
}

func (o *Object) object() *Object { return o }

type objecter interface{ object() *Object }

var objecterType = reflect.TypeOf((*objecter)(nil)).Elem()

// Problem is one thing wrong in a config file: Key is the dotted path of the
// key (e.g. "speculators_config.proposal_methods[0].speculative_tokens").
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Error lists every problem found while reading one config file.
type Error struct {
	Name     string // file name or other label of the input
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %s", e.Name)
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

type field struct {
	key   string
	index []int
}

// fieldsOf lists the JSON keys of a config struct, flattening embedded
// structs (as PEagle embeds Eagle3) and skipping Object and `json:"-"`.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Type == reflect.TypeOf(Object{}) {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				out = append(out, field{f.key, append([]int{i}, f.index...)})
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(tag, ",")
		out = append(out, field{key, []int{i}})
	}
	return out
}

// decodeObject fills the config struct dst (a pointer) from raw; keys it
// does not know go to Extra. Field values already in dst are the defaults
// for absent keys.
func decodeObject(raw map[string]json.RawMessage, dst any, path string, probs *[]Problem) {
	decodeFields(raw, reflect.ValueOf(dst).Elem(), dst.(objecter).object(), path, probs, true)
}

// decodeBlock fills an algorithm block, whose keys are top-level keys of the
// Speculator owning obj.
func decodeBlock(raw map[string]json.RawMessage, block any, obj *Object, probs *[]Problem) {
	decodeFields(raw, reflect.ValueOf(block).Elem(), obj, "", probs, false)
}

func decodeFields(raw map[string]json.RawMessage, v reflect.Value, obj *Object, path string, probs *[]Problem, claimUnknown bool) {
	if obj.present == nil {
		obj.present = map[string]bool{}
	}
	if obj.orig == nil {
		obj.orig = map[string]any{}
	}
	known := map[string]bool{}
	for _, f := range fieldsOf(v.Type()) {
		known[f.key] = true
		fv := v.FieldByIndex(f.index)
		if r, ok := raw[f.key]; ok {
			obj.present[f.key] = true
			decodeValue(r, fv, join(path, f.key), probs)
		}
		obj.orig[f.key] = snapshot(fv)
	}
	if !claimUnknown {
		return
	}
	for k, r := range raw {
		if known[k] {
			continue
		}
		val, err := decodeJSON(r)
		if err != nil {
			*probs = append(*probs, Problem{join(path, k), err.Error()})
			continue
		}
		if obj.Extra == nil {
			obj.Extra = map[string]any{}
		}
		obj.Extra[k] = val
	}
}

func reflectType(x any) reflect.Type { return reflect.TypeOf(x).Elem() }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var rawNull = []byte("null")

// decodeValue decodes one JSON value into a field, recording a problem when
// the JSON type does not fit.
func decodeValue(r json.RawMessage, fv reflect.Value, key string, probs *[]Problem) {
	r = bytes.TrimSpace(r)
	isNull := bytes.Equal(r, rawNull)
	switch {
	case fv.Kind() == reflect.Interface:
		val, err := decodeJSON(r)
		if err != nil {
			*probs = append(*probs, Problem{key, err.Error()})
			return
		}
		if val == nil {
			fv.SetZero()
		} else {
			fv.Set(reflect.ValueOf(val))
		}
		return
	case isNull:
		switch fv.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			fv.SetZero()
		default:
			*probs = append(*probs, Problem{key, fmt.Sprintf("is null, want %s", kindName(fv.Type()))})
		}
		return
	case fv.Type() == numberType:
		if len(r) == 0 || r[0] == '"' || !validNumber(string(r)) {
			*probs = append(*probs, Problem{key, fmt.Sprintf("is %s, want a number", jsonKind(r))})
			return
		}
		fv.SetString(string(r))
		return
	}
	// Nested config objects (and slices of them) keep their own keys.
	if t := fv.Type(); reflect.PointerTo(t).Implements(objecterType) ||
		(t.Kind() == reflect.Slice && reflect.PointerTo(t.Elem()).Implements(objecterType)) {
		decodeNested(r, fv, key, probs)
		return
	}
	target := reflect.New(fv.Type())
	if err := json.Unmarshal(r, target.Interface()); err != nil {
		*probs = append(*probs, Problem{key, fmt.Sprintf("is %s, want %s", jsonKind(r), kindName(fv.Type()))})
		return
	}
	fv.Set(target.Elem())
}

func decodeNested(r json.RawMessage, fv reflect.Value, key string, probs *[]Problem) {
	if fv.Kind() == reflect.Slice {
		var items []json.RawMessage
		if err := json.Unmarshal(r, &items); err != nil {
			*probs = append(*probs, Problem{key, fmt.Sprintf("is %s, want a list", jsonKind(r))})
			return
		}
		s := reflect.MakeSlice(fv.Type(), len(items), len(items))
		for i, it := range items {
			decodeNested(it, s.Index(i), fmt.Sprintf("%s[%d]", key, i), probs)
		}
		fv.Set(s)
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil || m == nil {
		*probs = append(*probs, Problem{key, fmt.Sprintf("is %s, want an object", jsonKind(r))})
		return
	}
	ptr := fv.Addr().Interface()
	if d, ok := ptr.(interface{ setDefaults() }); ok {
		d.setDefaults()
	}
	decodeObject(m, ptr, key, probs)
}

// snapshot copies a field value deeply enough to detect later changes.
func snapshot(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil
	}
	return string(b)
}

func kindName(t reflect.Type) string {
	if t == numberType {
		return "a number"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Pointer:
		return kindName(t.Elem()) + " or null"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(kindName(t.Elem()), "an "), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

func jsonKind(r json.RawMessage) string {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "empty"
	}
	switch r[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string " + truncate(string(r), 40)
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the number " + truncate(string(r), 40)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// encodeObject turns a config struct into the map MarshalPython writes.
func encodeObject(src any) (map[string]any, error) {
	obj := src.(objecter).object()
	out := make(map[string]any, len(obj.Extra)+16)
	for k, x := range obj.Extra {
		out[k] = x
	}
	return out, encodeFields(reflect.ValueOf(src).Elem(), obj, out)
}

// encodeBlock turns an algorithm block into top-level keys.
func encodeBlock(block any, obj *Object) (map[string]any, error) {
	out := map[string]any{}
	return out, encodeFields(reflect.ValueOf(block).Elem(), obj, out)
}

func encodeFields(v reflect.Value, obj *Object, out map[string]any) error {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		emit := obj.present[f.key]
		if !emit {
			if o, ok := obj.orig[f.key]; ok {
				emit = snapshot(fv) != o
			} else {
				emit = !fv.IsZero()
			}
		}
		if !emit {
			continue
		}
		if _, dup := obj.Extra[f.key]; dup {
			return fmt.Errorf("config: key %q is both a field and in Extra", f.key)
		}
		x, err := encodeValue(fv)
		if err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
		out[f.key] = x
	}
	return nil
}

func encodeValue(fv reflect.Value) (any, error) {
	t := fv.Type()
	switch {
	case reflect.PointerTo(t).Implements(objecterType) && t.Kind() == reflect.Struct:
		return encodeObject(fv.Addr().Interface())
	case t.Kind() == reflect.Slice && reflect.PointerTo(t.Elem()).Implements(objecterType):
		if fv.IsNil() {
			return nil, nil
		}
		l := make([]any, fv.Len())
		for i := range l {
			m, err := encodeObject(fv.Index(i).Addr().Interface())
			if err != nil {
				return nil, err
			}
			l[i] = m
		}
		return l, nil
	}
	return fv.Interface(), nil
}
