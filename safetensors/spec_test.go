package safetensors

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// format-spec §7 vector 9: a bf16 eagle3 draft with vocabulary reduction
// (Vd = 32000) starts with {"__metadata__":{"format":"pt"}, and d2t at
// [0, 256000], ends with t2d, and has a header length N with N % 8 == 0.
func TestSpecVector9(t *testing.T) {
	const vd, v, h = 32000, 128256, 8
	bf := func(name string, shape ...int64) Tensor {
		tt := Tensor{Name: name, DType: BF16, Shape: shape}
		tt.Data = make([]byte, tt.NumBytes())
		return tt
	}
	ts := []Tensor{
		bf("embed_tokens.weight", v, h),
		bf("fc.weight", h, 3*h),
		bf("layers.0.self_attn.q_proj.weight", h, 2*h),
		bf("lm_head.weight", vd, h),
		bf("norm.weight", h),
		{Name: "t2d", DType: BOOL, Shape: []int64{v}, Data: make([]byte, v)},
		{Name: "d2t", DType: I64, Shape: []int64{vd}, Data: make([]byte, 8*vd)},
	}
	p := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(p, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 {
		t.Fatalf("N = %d", n)
	}
	hdr := string(b[8 : 8+n])
	if !strings.HasPrefix(hdr, `{"__metadata__":{"format":"pt"},"d2t":{"dtype":"I64","shape":[32000],"data_offsets":[0,256000]},`) {
		t.Fatalf("header starts %q", hdr[:120])
	}
	var total int64
	for i := range ts {
		total += ts[i].NumBytes()
	}
	if !strings.HasSuffix(strings.TrimRight(hdr, " "), fmt.Sprintf(`"t2d":{"dtype":"BOOL","shape":[128256],"data_offsets":[%d,%d]}}`, total-v, total)) {
		t.Fatalf("header ends %q", hdr[len(hdr)-80:])
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	order := f.Tensors()
	var names []string
	for _, ti := range order {
		names = append(names, ti.Name)
	}
	want := "d2t,embed_tokens.weight,fc.weight,layers.0.self_attn.q_proj.weight,lm_head.weight,norm.weight,t2d"
	if strings.Join(names, ",") != want {
		t.Fatalf("order %v", names)
	}
}
