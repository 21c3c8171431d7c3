package vocab

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type goldenCase struct {
	Name         string `json:"name"`
	DraftSize    int    `json:"draft_vocab_size"`
	VerifierSize int    `json:"verifier_vocab_size"`
}

func loadCases(t *testing.T) []goldenCase {
	t.Helper()
	data, err := os.ReadFile("testdata/golden/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cs []goldenCase
	if err := json.Unmarshal(data, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestBuildMatchesPython checks Build against mappings that an independent
// Python implementation saved with np.save, byte for byte.
func TestBuildMatchesPython(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			dir := filepath.Join("testdata/golden", c.Name)
			freq, err := ReadTokenFreq(filepath.Join(dir, "freq.json"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Build(freq, c.DraftSize, c.VerifierSize)
			if err != nil {
				t.Fatal(err)
			}
			wantD2T, _ := os.ReadFile(filepath.Join(dir, "d2t.npy"))
			wantT2D, _ := os.ReadFile(filepath.Join(dir, "t2d.npy"))
			if got := EncodeInt64NPY(m.D2T); !bytes.Equal(got, wantD2T) {
				t.Errorf("d2t.npy differs from np.save's (%d vs %d bytes)", len(got), len(wantD2T))
			}
			if got := EncodeBoolNPY(m.T2D); !bytes.Equal(got, wantT2D) {
				t.Errorf("t2d.npy differs from np.save's (%d vs %d bytes)", len(got), len(wantT2D))
			}
			// Reading numpy's files gives the same mapping.
			lm, err := LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(lm.D2T, m.D2T) || !slices.Equal(lm.T2D, m.T2D) {
				t.Error("LoadDir of the numpy files differs from Build")
			}
			// torch.save's token_freq.pt decodes to the same table.
			pt, err := ReadTokenFreq(filepath.Join(dir, "token_freq.pt"))
			if err != nil {
				t.Fatal(err)
			}
			if len(pt) != len(freq) {
				t.Fatalf("token_freq.pt has %d entries, freq.json %d", len(pt), len(freq))
			}
			for k, v := range freq {
				if pt[k] != v {
					t.Fatalf("token_freq.pt[%d] = %d, want %d", k, pt[k], v)
				}
			}
		})
	}
}

// TestSpecVectors are training-spec §9 vectors 9 and 10, written out.
func TestSpecVectors(t *testing.T) {
	freq := map[int]int64{5: 10, 3: 10, 9: 4, 7: 1}
	m, err := Build(freq, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{3, 4, 7}; !slices.Equal(m.D2T, want) {
		t.Errorf("d2t = %v, want %v", m.D2T, want)
	}
	for id, in := range m.T2D {
		if in != (id == 3 || id == 5 || id == 9) {
			t.Errorf("t2d[%d] = %v", id, in)
		}
	}
	for i, want := range []int{3, 5, 9} {
		if got := m.VerifierID(i); got != want {
			t.Errorf("VerifierID(%d) = %d, want %d", i, got, want)
		}
	}
	m, err = Build(freq, 6, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{0, 0, 1, 2, 3, 4}; !slices.Equal(m.D2T, want) {
		t.Errorf("fill: d2t = %v, want %v", m.D2T, want)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		freq   map[int]int64
		vd, v  int
		substr string
	}{
		{"draft larger", map[int]int64{1: 1}, 11, 10, "larger than the verifier"},
		{"empty", map[int]int64{}, 2, 10, "empty"},
		{"id out of range", map[int]int64{10: 1}, 2, 10, "outside the verifier vocabulary"},
		{"zero draft", map[int]int64{1: 1}, 0, 10, "must be positive"},
		{"negative count", map[int]int64{1: -1}, 1, 10, "negative count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.freq, tc.vd, tc.v)
			if err == nil || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("Build error = %v, want one containing %q", err, tc.substr)
			}
		})
	}
}

func TestValidateAndLoadErrors(t *testing.T) {
	dir := t.TempDir()
	// t2d marks 3 ids, d2t has 2 entries.
	os.WriteFile(filepath.Join(dir, "d2t.npy"), EncodeInt64NPY([]int64{1, 1}), 0o644)
	os.WriteFile(filepath.Join(dir, "t2d.npy"), EncodeBoolNPY([]bool{false, true, true, true}), 0o644)
	_, err := LoadDir(dir)
	if !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), "marks 3 ids") {
		t.Errorf("LoadDir mismatched sizes: %v", err)
	}
	// Decreasing ids.
	bad := Mapping{D2T: []int64{2, -1}, T2D: []bool{true, false, true}}
	if err := bad.Validate(); err == nil {
		t.Error("Validate accepted non-increasing ids")
	}
	// Wrong dtype.
	os.WriteFile(filepath.Join(dir, "t2d.npy"), EncodeInt64NPY([]int64{0, 1}), 0o644)
	if _, err := LoadDir(dir); !errors.Is(err, ErrNPY) || !strings.Contains(err.Error(), "t2d.npy") {
		t.Errorf("LoadDir wrong dtype: %v", err)
	}
}

func TestSaveRoundTrip(t *testing.T) {
	m, err := Build(map[int]int64{4: 3, 8: 2, 1: 1}, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.D2T, m.D2T) || !slices.Equal(got.T2D, m.T2D) {
		t.Errorf("round trip: %+v, want %+v", got, m)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("Save left %d files, want 2 (no temporaries)", len(ents))
	}
}

// TestNPYHeaderBytes checks our header against the NumPy format spec
// literally, so it holds even where Python is not installed.
func TestNPYHeaderBytes(t *testing.T) {
	b := EncodeInt64NPY([]int64{3, 4, 7})
	if !bytes.HasPrefix(b, []byte("\x93NUMPY\x01\x00")) {
		t.Fatalf("magic/version: %q", b[:8])
	}
	hlen := int(b[8]) | int(b[9])<<8
	if (10+hlen)%64 != 0 {
		t.Errorf("header end %d is not 64-byte aligned", 10+hlen)
	}
	hdr := string(b[10 : 10+hlen])
	if !strings.HasPrefix(hdr, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }") || !strings.HasSuffix(hdr, "\n") {
		t.Errorf("header = %q", hdr)
	}
	if len(b) != 10+hlen+24 {
		t.Errorf("file is %d bytes, want %d", len(b), 10+hlen+24)
	}
	bb := EncodeBoolNPY([]bool{true, false})
	if !strings.Contains(string(bb[:64]), "'descr': '|b1'") || !bytes.Equal(bb[len(bb)-2:], []byte{1, 0}) {
		t.Errorf("bool npy = %q", bb)
	}
}

func python(t *testing.T, mods ...string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	args := []string{"-c", "import " + strings.Join(mods, ", ")}
	if err := exec.Command(py, args...).Run(); err != nil {
		t.Skipf("python3 lacks %v (apt-get install python3-numpy python3-torch)", mods)
	}
	return py
}

// TestPythonReadsOurFiles has numpy load our .npy files and torch load our
// token_freq.pt.
func TestPythonReadsOurFiles(t *testing.T) {
	py := python(t, "numpy")
	freq := map[int]int64{5: 10, 3: 10, 9: 4, 7: 1, 70000: 1 << 35, 1: 300}
	m, err := Build(freq, 4, 70001)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	script := `import sys, numpy as np
d = np.load(sys.argv[1] + "/d2t.npy"); t = np.load(sys.argv[1] + "/t2d.npy")
assert d.dtype == np.int64 and t.dtype == np.bool_, (d.dtype, t.dtype)
print(",".join(map(str, (np.arange(len(d)) + d).tolist())), int(t.sum()), len(t))`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "1,3,5,70000 4 70001"; got != want {
		t.Errorf("numpy sees %q, want %q", got, want)
	}

	if testing.Short() {
		t.Log("-short: token_freq.pt not checked with torch.load (importing torch takes seconds)")
		return
	}
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		t.Log("torch not installed: token_freq.pt not checked with torch.load")
		return
	}
	pt := filepath.Join(dir, "token_freq.pt")
	big := map[int]int64{}
	for i := 0; i < 2345; i++ {
		big[i*61] = int64(i*i*i) + 1
	}
	big[99999] = 1 << 40
	if err := WriteTokenFreq(pt, big); err != nil {
		t.Fatal(err)
	}
	script = `import sys, json, torch
d = torch.load(sys.argv[1])
print(json.dumps({str(k): v for k, v in sorted(d.items())}))`
	out, err = exec.Command(py, "-c", script, pt).CombinedOutput()
	if err != nil {
		t.Fatalf("torch.load: %v\n%s", err, out)
	}
	got, err := DecodeTokenFreq(out)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != len(big) {
		t.Fatalf("torch sees %d entries, want %d", len(got), len(big))
	}
	for k, v := range big {
		if got[k] != v {
			t.Fatalf("torch sees [%d] = %d, want %d", k, got[k], v)
		}
	}
}

func TestTokenFreqRoundTrip(t *testing.T) {
	for _, freq := range []map[int]int64{
		{},
		{7: 1},
		{0: 0, 1: 255, 2: 256, 3: 65535, 4: 65536, 5: 1<<31 - 1, 6: 1 << 31, 7: 1<<63 - 1},
	} {
		data, err := EncodeTokenFreq(freq)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTokenFreq(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(freq) {
			t.Fatalf("round trip %v -> %v", freq, got)
		}
		for k, v := range freq {
			if got[k] != v {
				t.Errorf("round trip [%d] = %d, want %d", k, got[k], v)
			}
		}
	}
}

func FuzzDecodeNPY(f *testing.F) {
	f.Add(EncodeInt64NPY([]int64{1, 2, 3}))
	f.Add(EncodeBoolNPY([]bool{true, false}))
	f.Add([]byte("\x93NUMPY\x01\x00\x10\x00{'shape': (9999999999,)}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := DecodeInt64NPY(bytes.NewReader(data)); err == nil {
			back, err := DecodeInt64NPY(bytes.NewReader(EncodeInt64NPY(v)))
			if err != nil || !slices.Equal(back, v) {
				t.Fatalf("re-encode of %v: %v, %v", v, back, err)
			}
		}
		if v, err := DecodeBoolNPY(bytes.NewReader(data)); err == nil {
			back, err := DecodeBoolNPY(bytes.NewReader(EncodeBoolNPY(v)))
			if err != nil || !slices.Equal(back, v) {
				t.Fatalf("re-encode of %v: %v, %v", v, back, err)
			}
		}
	})
}

func FuzzDecodeTokenFreq(f *testing.F) {
	pt, _ := EncodeTokenFreq(map[int]int64{1: 2, 300: 70000, 5: 1 << 40})
	f.Add(pt)
	f.Add([]byte(`{"1": 2}`))
	f.Add([]byte{0x80, 2, '}', '(', 'K', 1, 'K', 2, 'u', '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeTokenFreq(data)
		if err != nil {
			return
		}
		enc, err := EncodeTokenFreq(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeTokenFreq(enc)
		if err != nil || len(back) != len(m) {
			t.Fatalf("re-encode failed: %v", err)
		}
	})
}
