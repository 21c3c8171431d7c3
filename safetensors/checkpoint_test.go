package safetensors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shardedDir writes two shards a.safetensors {x, y} and b.safetensors {z}
// and an index with the given weight_map JSON.
func shardedDir(t *testing.T, weightMap string) string {
	t.Helper()
	dir := t.TempDir()
	u8 := func(n string) Tensor { return Tensor{Name: n, DType: U8, Shape: []int64{1}, Data: []byte{1}} }
	if err := WriteFile(filepath.Join(dir, "a.safetensors"), []Tensor{u8("x"), u8("y")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "b.safetensors"), []Tensor{u8("z"), u8("y2")}, nil); err != nil {
		t.Fatal(err)
	}
	idx := `{"metadata":{"total_size":4},"weight_map":` + weightMap + `}`
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(idx), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenDirHostileIndex(t *testing.T) {
	ok := `{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors","y2":"b.safetensors"}`
	if c, err := OpenDir(shardedDir(t, ok)); err != nil {
		t.Fatalf("valid index: %v", err)
	} else {
		if got := strings.Join(c.Names(), ","); got != "x,y,y2,z" {
			t.Fatalf("names %s", got)
		}
		if f, _ := c.FileOf("z"); filepath.Base(f.Path()) != "b.safetensors" {
			t.Fatalf("FileOf(z) = %s", f.Path())
		}
		c.Close()
	}
	cases := []struct{ name, wm, want string }{
		{"PathTraversal", `{"x":"../a.safetensors"}`, "path separator"},
		{"AbsolutePath", `{"x":"/etc/passwd"}`, "path separator"},
		{"DotDot", `{"x":".."}`, "invalid shard file name"},
		{"MissingShard", `{"x":"a.safetensors","y":"a.safetensors","z":"c.safetensors","y2":"b.safetensors"}`, "c.safetensors"},
		{"ListedButAbsent", `{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors","y2":"b.safetensors","w":"b.safetensors"}`, `"w" is listed for shard b.safetensors`},
		{"WrongShard", `{"x":"b.safetensors","y":"a.safetensors","z":"b.safetensors","y2":"b.safetensors"}`, `"x" is in shard a.safetensors but the weight_map puts it in b.safetensors`},
		{"Unlisted", `{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors"}`, `"y2" is in shard b.safetensors but not in the weight_map`},
		{"DuplicateKey", `{"x":"a.safetensors","x":"a.safetensors"}`, `"x" listed twice`},
		{"NotString", `{"x":1}`, "must be a file name"},
		{"NotObject", `[]`, "weight_map"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := shardedDir(t, c.wm)
			ck, err := OpenDir(dir)
			if err == nil {
				ck.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q lacks %q or the directory", err, c.want)
			}
		})
	}
}

// A tensor present in two shards is rejected whichever shard the index
// names.
func TestOpenDirTensorInTwoShards(t *testing.T) {
	dir := t.TempDir()
	u8 := func(n string) Tensor { return Tensor{Name: n, DType: U8, Shape: []int64{1}, Data: []byte{1}} }
	WriteFile(filepath.Join(dir, "a.safetensors"), []Tensor{u8("x")}, nil)
	WriteFile(filepath.Join(dir, "b.safetensors"), []Tensor{u8("x"), u8("z")}, nil)
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"x":"a.safetensors","z":"b.safetensors"}}`), 0o644)
	if c, err := OpenDir(dir); err == nil {
		c.Close()
		t.Fatal("accepted a tensor in two shards")
	} else if !strings.Contains(err.Error(), `"x" is in shard b.safetensors`) {
		t.Fatal(err)
	}
}

func TestOpenDirEmpty(t *testing.T) {
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("err = %v", err)
	}
}

func TestIndexOversized(t *testing.T) {
	p := filepath.Join(t.TempDir(), IndexFileName)
	f, _ := os.Create(p)
	f.Truncate(MaxIndexSize + 10)
	f.Close()
	if _, err := ReadIndex(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

// want is Python's output for the same dict:
// python3 -c 'import json; print(repr(json.dumps({"metadata": {"total_size": 10},
// "weight_map": {"b\x7f\u00e9\U0001f600": "f", "a\"\\\n": "g"}}, indent=2, sort_keys=True) + "\n"))'
func TestEncodeIndexEscapes(t *testing.T) {
	got := string(EncodeIndex(10, 0, map[string]string{"b\x7f\u00e9\U0001f600": "f", "a\"\\\n": "g"}))
	want := "{\n  \"metadata\": {\n    \"total_size\": 10\n  },\n  \"weight_map\": {\n    \"a\\\"\\\\\\n\": \"g\",\n    \"b\\u007f\\u00e9\\ud83d\\ude00\": \"f\"\n  }\n}\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
