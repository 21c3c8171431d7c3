package config

import (
	"bufio"
	"encoding/json"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestMarshalPythonGolden compares MarshalPython with Python's own
// json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" on the corpus
// made by testdata/gen_pyjson.py.
func TestMarshalPythonGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/pyjson_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Name, Input, Want string }
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases in the corpus", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			v, err := decodeJSON([]byte(tc.Input))
			if err != nil {
				t.Fatal(err)
			}
			got, err := MarshalPython(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.Want {
				t.Errorf("MarshalPython(%s)\n got %q\nwant %q", tc.Input, got, tc.Want)
			}
		})
	}
}

// TestPyFloatGolden checks PyFloat against Python's repr on special and
// random float64 values (testdata/pyfloat_repr.txt).
func TestPyFloatGolden(t *testing.T) {
	f, err := os.Open("testdata/pyfloat_repr.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, bad := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		hex, want, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		bits, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if got := PyFloat(math.Float64frombits(bits)); got != want {
			bad++
			if bad < 10 {
				t.Errorf("PyFloat(%s) = %q, want %q", hex, got, want)
			}
		}
	}
	if n < 5000 {
		t.Fatalf("only %d floats checked", n)
	}
}

func TestMarshalPythonGoValues(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"float64 integral", 10000.0, "10000.0"},
		{"float64 small", 1e-6, "1e-06"},
		{"float64 big", 1e16, "1e+16"},
		{"float32 widened", float32(0.02), "0.019999999552965164"},
		{"int", 5000000, "5000000"},
		{"uint64", uint64(math.MaxUint64), "18446744073709551615"},
		{"big.Int", new(big.Int).Lsh(big.NewInt(1), 100), "1267650600228229401496703205376"},
		{"nil", nil, "null"},
		{"nil slice", []int(nil), "null"},
		{"empty slice", []int{}, "[]"},
		{"nil pointer", (*int)(nil), "null"},
		{"NaN", math.NaN(), "NaN"},
		{"-Inf", math.Inf(-1), "-Infinity"},
		{"typed map", map[string]int{"b": 1, "a": 2}, "{\n  \"a\": 2,\n  \"b\": 1\n}"},
		{"typed slice", []string{"x", "é"}, "[\n  \"x\",\n  \"\\u00e9\"\n]"},
		{"number float", json.Number("1.0"), "1.0"},
		{"number int", json.Number("-0"), "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MarshalPython(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want+"\n" {
				t.Errorf("MarshalPython(%v) = %q, want %q", tc.in, got, tc.want+"\n")
			}
		})
	}
}

func TestMarshalPythonErrors(t *testing.T) {
	deep := any(nil)
	for i := 0; i < maxDepth+2; i++ {
		deep = []any{deep}
	}
	for name, in := range map[string]any{
		"invalid utf8":   "a\xffb",
		"bad number":     json.Number("01"),
		"non-string key": map[int]int{1: 2},
		"func":           func() {},
		"too deep":       deep,
	} {
		if _, err := MarshalPython(in); err == nil {
			t.Errorf("%s: MarshalPython succeeded, want an error", name)
		}
	}
}

// FuzzMarshalPython: anything encoding/json parses is written without panic,
// the output is valid JSON equal in value to the input, and writing the
// output again gives the same bytes (the writer is a fixed point).
func FuzzMarshalPython(f *testing.F) {
	data, err := os.ReadFile("testdata/pyjson_cases.json")
	if err != nil {
		f.Fatal(err)
	}
	var cases []struct{ Input string }
	if err := json.Unmarshal(data, &cases); err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add([]byte(c.Input))
	}
	pub, _ := os.ReadFile("testdata/eagle3_published.json")
	f.Add(pub)
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := decodeJSON(in)
		if err != nil {
			return
		}
		out, err := MarshalPython(v)
		if err != nil {
			if strings.Contains(err.Error(), "nesting deeper") {
				return
			}
			t.Fatalf("MarshalPython(%q): %v", in, err)
		}
		v2, err := decodeJSON(out)
		if err != nil {
			if strings.Contains(string(out), "Infinity") || strings.Contains(string(out), "NaN") {
				return // Python writes out-of-range floats as Infinity, which is not JSON
			}
			t.Fatalf("output of %q is not JSON: %v\n%s", in, err, out)
		}
		out2, err := MarshalPython(v2)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
		}
		if !sameJSON(v, v2) {
			t.Fatalf("value changed: %q -> %q", in, out)
		}
	})
}

// sameJSON compares two decoded values, numbers by value.
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		if strings.ContainsAny(string(a), ".eE") {
			x, _ := strconv.ParseFloat(string(a), 64)
			y, _ := strconv.ParseFloat(string(bn), 64)
			return x == y && math.Signbit(x) == math.Signbit(y)
		}
		x, _ := new(big.Int).SetString(string(a), 10)
		y, _ := new(big.Int).SetString(string(bn), 10)
		return x != nil && y != nil && x.Cmp(y) == 0
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], bl[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, x := range a {
			y, ok := bm[k]
			if !ok || !sameJSON(x, y) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func BenchmarkMarshalPython(b *testing.B) {
	data, err := os.ReadFile("testdata/eagle3_published.json")
	if err != nil {
		b.Fatal(err)
	}
	v, err := decodeJSON(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalPython(v); err != nil {
			b.Fatal(err)
		}
	}
}
