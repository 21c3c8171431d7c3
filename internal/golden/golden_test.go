package golden

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	data := make([]byte, 12)
	binary.LittleEndian.PutUint32(data[0:], math.Float32bits(1.5))
	binary.LittleEndian.PutUint32(data[4:], math.Float32bits(-2))
	binary.LittleEndian.PutUint32(data[8:], uint32(0xffffffff))
	idx := `{"meta":{"n":3,"names":["a"]},"tensors":{"x":{"dtype":"f32","shape":[2],"offset":0},"i":{"dtype":"i32","shape":[1],"offset":8}}}`
	f, err := Parse("t", []byte(idx), data)
	if err != nil {
		t.Fatal(err)
	}
	x, shape, err := f.F32("x")
	if err != nil || len(x) != 2 || x[0] != 1.5 || x[1] != -2 || shape[0] != 2 {
		t.Fatalf("F32 = %v %v %v", x, shape, err)
	}
	i, _, err := f.I32("i")
	if err != nil || i[0] != -1 {
		t.Fatalf("I32 = %v %v", i, err)
	}
	if n, err := f.MetaFloat("n"); err != nil || n != 3 {
		t.Fatalf("MetaFloat = %v %v", n, err)
	}
	for _, bad := range []string{"y", "i"} {
		if _, _, err := f.F32(bad); err == nil {
			t.Errorf("F32(%q): want an error", bad)
		}
	}
	for _, idx := range []string{
		`{"tensors":{"x":{"dtype":"f32","shape":[4],"offset":0}}}`,
		`{"tensors":{"x":{"dtype":"f32","shape":[1],"offset":-4}}}`,
		`{"tensors":{"x":{"dtype":"f32","shape":[-1],"offset":0}}}`,
		`{"tensors":{"x":{"dtype":"f32","shape":[100000,100000,100000],"offset":0}}}`,
	} {
		f, err := Parse("t", []byte(idx), data)
		if err != nil {
			continue
		}
		if _, _, err := f.F32("x"); err == nil {
			t.Errorf("%s: want an error", idx)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"tensors":{"x":{"dtype":"f32","shape":[2],"offset":0}}}`), []byte("12345678"))
	f.Add([]byte(`{"tensors":{"x":{"dtype":"i32","shape":[1,1],"offset":4}}}`), []byte("12345678"))
	f.Fuzz(func(t *testing.T, idx, data []byte) {
		g, err := Parse("fuzz", idx, data)
		if err != nil {
			return
		}
		for name := range g.Tensors {
			g.F32(name)
			g.I32(name)
		}
		g.MetaFloat("n")
	})
}
