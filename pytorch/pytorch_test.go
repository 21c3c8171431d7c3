package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type expectTensor struct {
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Hex   string  `json:"hex"`
}

func loadExpected(t *testing.T) map[string]map[string]expectTensor {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]expectTensor
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAgainstTorch reads the files torch.save wrote (testdata/gen_torch.py)
// and compares every tensor's bytes with what torch dumped.
func TestAgainstTorch(t *testing.T) {
	for file, want := range loadExpected(t) {
		t.Run(file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := len(f.Names()); got != len(want) {
				t.Errorf("%d tensors, want %d (%v)", got, len(want), f.Names())
			}
			for name, w := range want {
				tt, ok := f.Tensor(name)
				if !ok {
					t.Errorf("tensor %s missing", name)
					continue
				}
				if string(tt.DType()) != w.DType || !reflect.DeepEqual(tt.Shape(), w.Shape) && !(len(w.Shape) == 0 && len(tt.Shape()) == 0) {
					t.Errorf("%s: %s %v, want %s %v", name, tt.DType(), tt.Shape(), w.DType, w.Shape)
				}
				b, err := tt.Bytes()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := hex.EncodeToString(b); got != w.Hex {
					t.Errorf("%s (contiguous %v): bytes\n got %s\nwant %s", name, tt.Contiguous(), got, w.Hex)
				}
				var buf bytes.Buffer
				if _, err := tt.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), b) {
					t.Errorf("%s: WriteTo differs from Bytes", name)
				}
				if tt.NumBytes() > 2 {
					r, closer, err := tt.Section(1, tt.NumBytes()-2)
					if err != nil {
						t.Fatal(err)
					}
					var sb bytes.Buffer
					sb.ReadFrom(r)
					closer()
					if !bytes.Equal(sb.Bytes(), b[1:len(b)-1]) {
						t.Errorf("%s: Section(1, n-2) wrong", name)
					}
				}
			}
		})
	}
}

func TestContiguity(t *testing.T) {
	f, err := Open("testdata/dtypes.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, want := range map[string]bool{"f32": true, "transposed": false, "row_slice": true, "col_slice": false, "expanded_view": false, "scalar": true} {
		tt, _ := f.Tensor(name)
		if tt.Contiguous() != want {
			t.Errorf("%s: Contiguous() = %v, want %v", name, tt.Contiguous(), want)
		}
	}
}

// TestRefused checks that hostile and unsupported files give a clear error
// and that nothing runs.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		file   string
		want   string
		unsafe bool
	}{
		{"evil_os_system.pt", "posix.system", true},
		{"evil_eval.pt", "__builtin__.eval", true},
		{"evil_getattr.pt", "__builtin__.getattr", true},
		{"legacy.pt", "legacy (pre-1.6, non-zip)", false},
		{"expected.json", "not a torch zip checkpoint", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", tc.file))
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsafe) != tc.unsafe {
				t.Errorf("errors.Is(ErrUnsafe) = %v, want %v (%v)", !tc.unsafe, tc.unsafe, err)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// rezip rewrites a torch archive with one entry replaced (or removed when
// data is nil).
func rezip(t *testing.T, src, entry string, data []byte) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range zr.File {
		b, err := readEntry(e, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if e.Name == entry {
			if data == nil {
				continue
			}
			b = data
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "x.pt")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestArchiveDamage(t *testing.T) {
	pkl, err := os.ReadFile("testdata/nested.pt")
	if err != nil {
		t.Fatal(err)
	}
	_ = pkl
	for _, tc := range []struct {
		name, entry string
		data        []byte
		want        string
	}{
		{"missing storage", "nested/data/0", nil, "no entry nested/data/0"},
		{"short storage", "nested/data/0", []byte{1, 2, 3}, "the archive entry has 3"},
		{"big endian", "nested/byteorder", []byte("big"), "only little-endian"},
		{"missing pickle", "nested/data.pkl", nil, "no <name>/data.pkl"},
		{"garbage pickle", "nested/data.pkl", []byte{0x80, 0x02, 'K'}, "truncated"},
		{"no stop", "nested/data.pkl", []byte{0x80, 0x02, 'N'}, "no STOP"},
		{"not a dict", "nested/data.pkl", []byte{0x80, 0x02, 'N', '.'}, "holds a None"},
		{"OBJ opcode", "nested/data.pkl", []byte{0x80, 0x02, '(', 'o', '.'}, "opcode OBJ"},
		{"bad memo", "nested/data.pkl", []byte{0x80, 0x02, 'h', 9, '.'}, "memo index 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry := tc.entry
			data := tc.data
			if tc.name == "big endian" {
				// nested.pt from torch 1.13 has no byteorder entry; add one.
				entry = "nested/version"
			}
			p := rezip(t, "testdata/nested.pt", entry, data)
			if tc.name == "big endian" {
				p = addEntry(t, "testdata/nested.pt", "nested/byteorder", []byte("big"))
			}
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func addEntry(t *testing.T, src, name string, data []byte) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range zr.File {
		b, _ := readEntry(e, 1<<20)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Store})
		w.Write(b)
	}
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	w.Write(data)
	zw.Close()
	p := filepath.Join(t.TempDir(), "x.pt")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// TestDeflated reads an archive whose entries are compressed (torch never
// writes these, but a re-zipped checkpoint may have them).
func TestDeflated(t *testing.T) {
	zr, err := zip.OpenReader("testdata/dtypes.pt")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range zr.File {
		b, _ := readEntry(e, 1<<20)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Deflate})
		w.Write(b)
	}
	zw.Close()
	zr.Close()
	p := filepath.Join(t.TempDir(), "d.pt")
	os.WriteFile(p, buf.Bytes(), 0o644)
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := loadExpected(t)["dtypes.pt"]
	for name, w := range want {
		tt, _ := f.Tensor(name)
		b, err := tt.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(b) != w.Hex {
			t.Errorf("%s: wrong bytes from a deflated archive", name)
		}
	}
}

// FuzzUnpickle runs the restricted machine on arbitrary pickles, with a
// persistent loader that accepts any well-formed storage id.
func FuzzUnpickle(f *testing.F) {
	for _, name := range []string{"dtypes.pt", "nested.pt", "evil_os_system.pt", "evil_eval.pt", "evil_getattr.pt"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range zr.File {
			if strings.HasSuffix(e.Name, "data.pkl") {
				b, _ := readEntry(e, 1<<20)
				f.Add(b)
			}
		}
		zr.Close()
	}
	f.Add([]byte{0x80, 0x02, '}', '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		u := &unpickler{data: data, persist: func(pid any) (any, error) {
			tp, ok := pid.(tuple)
			if !ok || len(tp) != 5 {
				return nil, errors.New("bad pid")
			}
			n, ok := tp[4].(int64)
			if !ok || n < 0 {
				return nil, errors.New("bad numel")
			}
			return &storageRef{key: "k", dtype: "F32", numel: n}, nil
		}}
		v, err := u.load()
		if err != nil {
			return
		}
		if d, err := findStateDict(v, 0); err == nil {
			for i := range d.keys {
				tt := d.vals[i].(*Tensor)
				if err := tt.checkView(); err != nil {
					t.Fatalf("accepted a view outside its storage: %v", err)
				}
			}
		}
	})
}

func TestFileRange(t *testing.T) {
	f, err := Open("testdata/dtypes.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		tt, _ := f.Tensor(name)
		fh, off, ok := tt.FileRange()
		if ok != tt.Contiguous() {
			t.Errorf("%s: FileRange ok=%v, contiguous %v", name, ok, tt.Contiguous())
		}
		if !ok {
			continue
		}
		got := make([]byte, tt.NumBytes())
		if _, err := fh.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		want, _ := tt.Bytes()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: FileRange bytes differ", name)
		}
	}
}

// FuzzOpen runs whole archives (zip, pickle, storages) through Open and
// reads every tensor it accepts.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"dtypes.pt", "nested.pt", "evil_getattr.pt", "legacy.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := open("fuzz", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		defer tf.Close()
		for _, n := range tf.Names() {
			tt, _ := tf.Tensor(n)
			if tt.NumBytes() > 1<<20 {
				continue
			}
			b, err := tt.Bytes()
			if err == nil && int64(len(b)) != tt.NumBytes() {
				t.Fatalf("%s: %d bytes, want %d", n, len(b), tt.NumBytes())
			}
		}
	})
}
