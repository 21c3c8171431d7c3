package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/pytorch"
	"github.com/speculators-go/speculators/safetensors"
)

var rng = rand.New(rand.NewPCG(1, 2))

// rnd is a random F32 tensor (weights for synthetic sources built in Go).
func rnd(name string, shape ...int) safetensors.Tensor {
	n := 1
	s := make([]int64, len(shape))
	for i, d := range shape {
		n *= d
		s[i] = int64(d)
	}
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(rng.NormFloat64())))
	}
	return safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: s, Data: b}
}

func decoderTensors(prefix string, H, Hq, Hkv, I, in int, qkNorm bool) []safetensors.Tensor {
	ts := []safetensors.Tensor{
		rnd(prefix+"input_layernorm.weight", H), rnd(prefix+"post_attention_layernorm.weight", H),
		rnd(prefix+"self_attn.q_proj.weight", Hq, in), rnd(prefix+"self_attn.k_proj.weight", Hkv, in),
		rnd(prefix+"self_attn.v_proj.weight", Hkv, in), rnd(prefix+"self_attn.o_proj.weight", H, Hq),
		rnd(prefix+"mlp.gate_proj.weight", I, H), rnd(prefix+"mlp.up_proj.weight", I, H), rnd(prefix+"mlp.down_proj.weight", H, I),
	}
	if qkNorm {
		ts = append(ts, rnd(prefix+"self_attn.q_norm.weight", Hq/2), rnd(prefix+"self_attn.k_norm.weight", Hq/2))
	}
	return ts
}

func writeConfig(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// eagle3Source writes a SafeAILab-layout EAGLE-3 source in safetensors
// (H=8, Vd=V=32), with edit applied to the tensor list.
func eagle3Source(t *testing.T, dir string, edit func([]safetensors.Tensor) []safetensors.Tensor) {
	t.Helper()
	writeConfig(t, dir, map[string]any{"hidden_size": 8, "intermediate_size": 12, "num_attention_heads": 2, "num_key_value_heads": 1,
		"num_hidden_layers": 1, "vocab_size": 32, "draft_vocab_size": 32})
	ts := decoderTensors("midlayer.", 8, 8, 4, 12, 16, false)
	ts = append(ts, rnd("midlayer.hidden_norm.weight", 8), rnd("fc.weight", 8, 24), rnd("norm.weight", 8), rnd("lm_head.weight", 32, 8))
	if edit != nil {
		ts = edit(ts)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func verifier(t *testing.T, dir string) {
	writeConfig(t, dir, map[string]any{"architectures": []any{"LlamaForCausalLM"}, "hidden_size": 8, "num_hidden_layers": 4,
		"text_config": map[string]any{"vocab_size": 32}, "max_position_embeddings": 8192})
}

// TestEagle3SafetensorsValues: a Go-built source, every tensor checked
// against its source bytes under the renamed name.
func TestEagle3SafetensorsValues(t *testing.T) {
	dir := t.TempDir()
	eagle3Source(t, filepath.Join(dir, "src"), nil)
	verifier(t, filepath.Join(dir, "ver"))
	out := filepath.Join(dir, "out")
	res, err := Convert(Options{Algorithm: "eagle3", Source: filepath.Join(dir, "src"), Verifier: filepath.Join(dir, "ver"), OutputPath: out})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	src, _ := safetensors.OpenDir(filepath.Join(dir, "src"))
	defer src.Close()
	dst, _ := safetensors.OpenDir(out)
	defer dst.Close()
	if len(src.Names()) != len(dst.Names()) {
		t.Errorf("%d tensors in, %d out", len(src.Names()), len(dst.Names()))
	}
	for _, n := range src.Names() {
		to, _ := Apply(Eagle3Rules, n)
		a, _ := src.Bytes(n)
		b, err := dst.Bytes(to)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s -> %s: bytes differ (%v)", n, to, err)
		}
	}
	c, _ := loadConfig(t, out)
	if c.TransformerLayerConfig.MaxPositionEmbeddings != 8192 || c.TransformerLayerConfig.VocabSize != 32 || c.EagleFields().DraftVocabSize != 32 {
		t.Errorf("layer %+v", c.TransformerLayerConfig)
	}
}

// TestEagle3Failures: one extra unknown tensor, or one missing tensor, fails
// with a message naming it; nothing is written.
func TestEagle3Failures(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([]safetensors.Tensor) []safetensors.Tensor
		want []string
	}{
		{"extra", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(ts, rnd("midlayer.self_attn.rotary_emb.mystery", 4))
		}, []string{"unexpected tensor layers.0.self_attn.rotary_emb.mystery", "midlayer.self_attn.rotary_emb.mystery"}},
		{"missing", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return dropTensor(ts, "midlayer.mlp.down_proj.weight")
		}, []string{"missing required tensor layers.0.mlp.down_proj.weight", "midlayer.mlp.down_proj.weight"}},
		{"bad shape", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(dropTensor(ts, "norm.weight"), rnd("norm.weight", 9))
		}, []string{"norm.weight", "[9]", "[8]"}},
		{"fc width", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(dropTensor(ts, "fc.weight"), rnd("fc.weight", 8, 32))
		}, []string{"fc.weight", "eagle_aux_hidden_state_layer_ids"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			eagle3Source(t, filepath.Join(dir, "src"), tc.edit)
			verifier(t, filepath.Join(dir, "ver"))
			out := filepath.Join(dir, "out")
			_, err := Convert(Options{Algorithm: "eagle3", Source: filepath.Join(dir, "src"), Verifier: filepath.Join(dir, "ver"), OutputPath: out})
			if err == nil {
				t.Fatal("converted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("output written despite the error")
			}
		})
	}
}

func dropTensor(ts []safetensors.Tensor, name string) []safetensors.Tensor {
	var out []safetensors.Tensor
	for _, t := range ts {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}

// TestDFlashUnmapped: a DFlash source with a stray tensor fails naming it.
func TestDFlashUnmapped(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	copyDir(t, "testdata/dflash_fused", src)
	ck, _ := safetensors.OpenDir(src)
	var ts []safetensors.Tensor
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		b, _ := ck.Bytes(n)
		ts = append(ts, safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: append([]byte(nil), b...)})
	}
	ck.Close()
	ts = append(ts, rnd("layers.0.mlp.experts_router.weight", 2, 8))
	if err := safetensors.WriteFile(filepath.Join(src, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Convert(Options{Algorithm: "dflash", Source: src, Verifier: "testdata/verifier_qwen3", OutputPath: filepath.Join(dir, "out")})
	if err == nil || !strings.Contains(err.Error(), "layers.0.mlp.experts_router.weight") {
		t.Fatalf("error %v does not name the stray tensor", err)
	}
}

// TestMaliciousSource: a pytorch_model.bin whose pickle calls os.system is
// refused, and the command never runs.
func TestMaliciousSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeConfig(t, src, map[string]any{"hidden_size": 8})
	evil, err := os.ReadFile("../pytorch/testdata/evil_os_system.pt")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "pytorch_model.bin"), evil, 0o644)
	verifier(t, filepath.Join(dir, "ver"))
	_, err = Convert(Options{Algorithm: "eagle3", Source: src, Verifier: filepath.Join(dir, "ver"), OutputPath: filepath.Join(dir, "out")})
	if !errors.Is(err, pytorch.ErrUnsafe) || !strings.Contains(err.Error(), "posix.system") {
		t.Fatalf("err = %v, want a refusal naming posix.system", err)
	}
}

// TestResolve finds hub ids in the local cache and says where it looked.
func TestResolve(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", home)
	snap := filepath.Join(home, "hub", "models--org--name", "snapshots", "abc123")
	os.MkdirAll(snap, 0o755)
	os.MkdirAll(filepath.Join(home, "hub", "models--org--name", "snapshots", "old"), 0o755)
	os.MkdirAll(filepath.Join(home, "hub", "models--org--name", "refs"), 0o755)
	os.WriteFile(filepath.Join(home, "hub", "models--org--name", "refs", "main"), []byte("abc123\n"), 0o644)
	got, err := Resolve("org/name")
	if err != nil || got != snap {
		t.Errorf("Resolve(org/name) = %q, %v; want %q", got, err, snap)
	}
	_, err = Resolve("org/missing")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, "hub", "models--org--missing")) {
		t.Errorf("error %v does not say where it looked", err)
	}
	other := t.TempDir()
	t.Setenv("HF_HUB_CACHE", other)
	if _, err := Resolve("org/name"); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("HF_HUB_CACHE not honoured: %v", err)
	}
	if got, err := Resolve("testdata"); err != nil || got != "testdata" {
		t.Errorf("local dir: %q %v", got, err)
	}
	if _, err := Resolve("../../etc"); err == nil {
		t.Error("resolved a bad id")
	}
}

// TestRules is the golden table of every rename (format-spec §7 vectors
// 10 and 13, §5.5).
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		rules    []Rule
		in, want string
	}{
		{Eagle3Rules, "midlayer.self_attn.q_proj.weight", "layers.0.self_attn.q_proj.weight"},
		{Eagle3Rules, "midlayer.2.mlp.up_proj.weight", "layers.2.mlp.up_proj.weight"},
		{Eagle3Rules, "midlayer.hidden_norm.weight", "layers.0.hidden_norm.weight"},
		{Eagle3Rules, "fc.weight", "fc.weight"},
		{Eagle3Rules, "fc_norm.1.weight", "fc_norm.1.weight"},
		{MTPRules, "mtp.fc.weight", "mtp_layers.0.input_proj.weight"},
		{MTPRules, "mtp.norm.weight", "mtp_layers.0.final_layernorm.weight"},
		{MTPRules, "mtp.pre_fc_norm_hidden.weight", "mtp_layers.0.hidden_layernorm.weight"},
		{MTPRules, "mtp.pre_fc_norm_embedding.weight", "mtp_layers.0.token_layernorm.weight"},
		{MTPRules, "mtp.layers.0.self_attn.q_proj.weight", "mtp_layers.0.self_attn.q_proj.weight"},
		{MTPRules, "some.random.key", "some.random.key"},
		{MTPRules, "mtp.fc.weight.extra", "mtp.fc.weight.extra"},
		{Invert(MTPRules), "mtp_layers.0.hidden_layernorm.weight", "mtp.pre_fc_norm_hidden.weight"},
		{Invert(MTPRules), "mtp_layers.0.input_proj.weight", "mtp.fc.weight"},
		{Invert(MTPRules), "mtp_layers.0.mlp.gate.weight", "mtp.layers.0.mlp.gate.weight"},
		{EagleRules, "fc.bias", "fusion_fc.bias"},
		{EagleRules, "layers.0.mlp.up_proj.weight", "transformer.mlp.up_proj.weight"},
		{EagleLayernormRules, "hidden_layernorm.weight", "transformer.input_layernorm.weight"},
		{[]Rule{{"a.{n}.b", "x.{n}"}}, "a.12.b", "x.12"},
		{[]Rule{{"a.{n}.b", "x.{n}"}}, "a.12.bc", "a.12.bc"},
		{[]Rule{{"a.{n}.", "x.{n}."}}, "a.01.c", "a.01.c"},
	} {
		if got, _ := Apply(tc.rules, tc.in); got != tc.want {
			t.Errorf("Apply(%v, %q) = %q, want %q", tc.rules, tc.in, got, tc.want)
		}
	}
}

// memTensor is a source tensor held in memory (for unit tests).
func memTensor(name string, dt safetensors.DType, b []byte, shape ...int64) *Tensor {
	return &Tensor{Name: name, DType: dt, Shape: shape, File: "mem", section: func(off, n int64) (io.Reader, func() error, error) {
		return bytes.NewReader(b[off : off+n]), nop, nil
	}}
}

// TestExpertFusion is format-spec §7 vector 14: 2 experts of [4,4] fuse to
// gate_up [2,8,4] with expert 0 = cat(gate0, up0), down [2,4,4]; indices
// {0,2} are refused.
func TestExpertFusion(t *testing.T) {
	in := map[string]*Tensor{}
	vals := map[string][]byte{}
	for _, e := range []string{"0", "1"} {
		for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
			b := make([]byte, 16*4)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			n := "m.mlp.experts." + e + "." + p + ".weight"
			in[n] = memTensor(n, safetensors.F32, b, 4, 4)
			vals[e+p] = b
		}
	}
	in["m.mlp.gate.weight"] = memTensor("m.mlp.gate.weight", safetensors.F32, make([]byte, 32), 2, 4)
	outs, err := fuseExperts(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Output{}
	for _, o := range outs {
		got[o.Name] = o
	}
	gu, down := got["m.mlp.experts.gate_up_proj"], got["m.mlp.experts.down_proj"]
	if !slices.Equal(gu.Shape, []int64{2, 8, 4}) || !slices.Equal(down.Shape, []int64{2, 4, 4}) || len(outs) != 3 {
		t.Fatalf("shapes %v %v (%d outputs)", gu.Shape, down.Shape, len(outs))
	}
	var buf bytes.Buffer
	if err := writePieces(&buf, &gu, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	want := bytes.Join([][]byte{vals["0gate_proj"], vals["0up_proj"], vals["1gate_proj"], vals["1up_proj"]}, nil)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Error("gate_up_proj is not stack(cat(gate_e, up_e))")
	}
	delete(in, "m.mlp.experts.1.gate_proj.weight")
	if _, err := fuseExperts(in); err == nil || !strings.Contains(err.Error(), "gate_proj") {
		t.Errorf("expert without gate_proj: %v", err)
	}
	for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
		delete(in, "m.mlp.experts.1."+p+".weight")
		n := "m.mlp.experts.2." + p + ".weight"
		in[n] = memTensor(n, safetensors.F32, vals["1"+p], 4, 4)
	}
	if _, err := fuseExperts(in); err == nil || !strings.Contains(err.Error(), "Non-contiguous expert indices") {
		t.Errorf("indices {0,2}: %v", err)
	}
}

// TestCast checks the streaming dtype conversion against the safetensors
// package's scalar conversions on every bf16 bit pattern.
func TestCast(t *testing.T) {
	src := make([]byte, 2*65536)
	for i := 0; i < 65536; i++ {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	f32 := convertFloat(make([]byte, 4*65536), src, safetensors.BF16, safetensors.F32)
	for i := 0; i < 65536; i++ {
		got := math.Float32frombits(binary.LittleEndian.Uint32(f32[4*i:]))
		want := safetensors.BF16ToFloat32(uint16(i))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("bf16 %04x -> %v, want %v", i, got, want)
		}
	}
	back := convertFloat(make([]byte, 2*65536), f32, safetensors.F32, safetensors.BF16)
	for i := 0; i < 65536; i++ {
		v := safetensors.BF16ToFloat32(uint16(i))
		if v != v {
			continue
		}
		if binary.LittleEndian.Uint16(back[2*i:]) != uint16(i) {
			t.Fatalf("bf16 %04x does not round-trip", i)
		}
	}
	f16 := convertFloat(make([]byte, 2*65536), f32, safetensors.F32, safetensors.F16)
	for i := 0; i < 65536; i++ {
		want := safetensors.Float32ToF16(safetensors.BF16ToFloat32(uint16(i)))
		if got := binary.LittleEndian.Uint16(f16[2*i:]); got != want {
			t.Fatalf("bf16 %04x -> f16 %04x, want %04x", i, got, want)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	os.MkdirAll(to, 0o755)
	ents, _ := os.ReadDir(from)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(to, e.Name()), b, 0o644)
	}
}

// TestCastF32ToBF16 checks the inlined rounding against the safetensors
// package on edge patterns and random ones.
func TestCastF32ToBF16(t *testing.T) {
	pats := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0x3f808000, 0x3f818000, 0x3f807fff, 0x7f7fffff, 0x00000001, 0x007fffff}
	for i := 0; i < 1<<16; i++ {
		pats = append(pats, rng.Uint32())
	}
	for _, p := range pats {
		want := safetensors.Float32ToBF16(math.Float32frombits(p))
		if got := f32ToBF16(p); got != want {
			t.Errorf("%08x: got %04x, want %04x", p, got, want)
		}
	}
}

func TestOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	eagle3Source(t, filepath.Join(dir, "src"), nil)
	verifier(t, filepath.Join(dir, "ver"))
	_, err := Convert(Options{Algorithm: "eagle3", Source: filepath.Join(dir, "src"), Verifier: filepath.Join(dir, "ver"), OutputPath: filepath.Join(dir, "src", ".")})
	if err == nil || !strings.Contains(err.Error(), "is the input directory") {
		t.Fatalf("err = %v", err)
	}
}

// TestEagle3FCNorm: fc_norm.N tensors are kept and set fc_norm; a source
// with both fc_norm and input_norm is refused.
func TestEagle3FCNorm(t *testing.T) {
	dir := t.TempDir()
	eagle3Source(t, filepath.Join(dir, "src"), func(ts []safetensors.Tensor) []safetensors.Tensor {
		return append(ts, rnd("fc_norm.0.weight", 8), rnd("fc_norm.1.weight", 8), rnd("fc_norm.2.weight", 8))
	})
	verifier(t, filepath.Join(dir, "ver"))
	out := filepath.Join(dir, "out")
	res, err := Convert(Options{Algorithm: "eagle3", Source: filepath.Join(dir, "src"), Verifier: filepath.Join(dir, "ver"), OutputPath: out, DType: "bfloat16"})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	c, _ := loadConfig(t, out)
	if !c.EagleFields().FCNorm || c.EagleFields().NormBeforeFC || c.DType != "bfloat16" {
		t.Errorf("fc_norm %v norm_before_fc %v dtype %s", c.EagleFields().FCNorm, c.EagleFields().NormBeforeFC, c.DType)
	}
	ck, _ := safetensors.OpenDir(out)
	defer ck.Close()
	src, _ := safetensors.OpenDir(filepath.Join(dir, "src"))
	defer src.Close()
	for _, n := range []string{"fc_norm.0.weight", "fc_norm.2.weight"} {
		got, err := ck.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := src.Float32(n)
		for i := range want {
			if got[i] != safetensors.BF16ToFloat32(safetensors.Float32ToBF16(want[i])) {
				t.Fatalf("%s[%d] = %v, want bf16(%v)", n, i, got[i], want[i])
			}
		}
	}
	eagle3Source(t, filepath.Join(dir, "src2"), func(ts []safetensors.Tensor) []safetensors.Tensor {
		return append(ts, rnd("fc_norm.0.weight", 8), rnd("input_norm.weight", 24))
	})
	if _, err := Convert(Options{Algorithm: "eagle3", Source: filepath.Join(dir, "src2"), Verifier: filepath.Join(dir, "ver"), OutputPath: filepath.Join(dir, "out2")}); err == nil || !strings.Contains(err.Error(), "norm_before_fc and fc_norm") {
		t.Errorf("both norms: %v", err)
	}
}

// TestEagle1: the EAGLE-1 layout (fc.bias, no extra layernorms) converts to
// the historical eagle form with fusion_bias and without layernorms.
func TestEagle1(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeConfig(t, src, map[string]any{"hidden_size": 8, "intermediate_size": 12, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 32})
	ts := decoderTensors("layers.0.", 8, 8, 4, 12, 8, false)
	ts = dropTensor(ts, "layers.0.input_layernorm.weight")
	ts = append(ts, rnd("embed_tokens.weight", 32, 8), rnd("fc.weight", 8, 16), rnd("fc.bias", 8))
	if err := safetensors.WriteFile(filepath.Join(src, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	verifier(t, filepath.Join(dir, "ver"))
	out := filepath.Join(dir, "out")
	res, err := Convert(Options{Algorithm: "eagle", Source: src, Verifier: filepath.Join(dir, "ver"), OutputPath: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report != nil || res.Tensors != 10 {
		t.Errorf("report %v tensors %d", res.Report, res.Tensors)
	}
	raw, _ := readJSON(filepath.Join(out, "config.json"))
	if raw["fusion_bias"] != true || raw["layernorms"] != false {
		t.Errorf("fusion_bias %v layernorms %v", raw["fusion_bias"], raw["layernorms"])
	}
	ck, _ := safetensors.OpenDir(out)
	defer ck.Close()
	for _, n := range []string{"fusion_fc.weight", "fusion_fc.bias", "transformer.self_attn.q_proj.weight", "transformer.post_attention_layernorm.weight"} {
		if _, ok := ck.Info(n); !ok {
			t.Errorf("%s missing", n)
		}
	}
	if _, ok := ck.Info("embed_tokens.weight"); ok {
		t.Error("embed_tokens.weight kept")
	}
}

// TestKernelCopyPath: with a writer that accepts io.ReaderFrom, unconverted
// pieces of a safetensors source are copied from the file handle (the
// copy_file_range path) and give the same bytes as the buffered path.
func TestKernelCopyPath(t *testing.T) {
	dir := t.TempDir()
	eagle3Source(t, dir, nil)
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fc, _ := src.Tensor("fc.weight")
	if fc.fh == nil {
		t.Fatal("safetensors tensor without a file handle")
	}
	for _, o := range []Output{whole("fc", fc), colRange("fc", fc, 8, 16), rowRange("fc", fc, 2, 5)} {
		var fast bytes.Buffer // implements io.ReaderFrom
		if err := writePieces(&fast, &o, o.DType); err != nil {
			t.Fatal(err)
		}
		var slow bytes.Buffer
		if err := writePieces(struct{ io.Writer }{&slow}, &o, o.DType); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast.Bytes(), slow.Bytes()) || int64(fast.Len()) != o.numBytes() {
			t.Errorf("%v: kernel-copy path differs", o.Shape)
		}
	}
}

// TestKernelCopyTorch: the same for a pytorch_model.bin source (stored zip
// entries), including its non-contiguous lm_head, which has no file range.
func TestKernelCopyTorch(t *testing.T) {
	src, err := OpenSource("testdata/eagle3_bin")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, n := range src.Names() {
		tt, _ := src.Tensor(n)
		o := whole(n, tt)
		var fast, slow bytes.Buffer
		if err := writePieces(&fast, &o, o.DType); err != nil {
			t.Fatal(err)
		}
		if err := writePieces(struct{ io.Writer }{&slow}, &o, o.DType); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
			t.Errorf("%s: kernel-copy path differs", n)
		}
		if (tt.fh == nil) != (n == "lm_head.weight") {
			t.Errorf("%s: file range %v", n, tt.fh != nil)
		}
	}
}

// TestShardedOutput: a small max shard size gives HF shards plus an index
// that validate accepts, with the same tensors as a single file.
func TestShardedOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res, err := Convert(Options{Algorithm: "eagle3", Source: "testdata/eagle3_bin", Verifier: "testdata/verifier_llama", OutputPath: out, MaxShardSize: 600})
	if err != nil {
		t.Fatal(err)
	}
	requireValid(t, res)
	if _, err := os.Stat(filepath.Join(out, safetensors.IndexFileName)); err != nil {
		t.Fatal("no index written")
	}
	checkTensors(t, out, loadExpected(t, "eagle3_bin"))
}

func TestBadDType(t *testing.T) {
	_, err := Convert(Options{Algorithm: "eagle3", Source: "testdata/eagle3_bin", Verifier: "testdata/verifier_llama", OutputPath: filepath.Join(t.TempDir(), "o"), DType: "int8"})
	if err == nil || !strings.Contains(err.Error(), "--dtype") {
		t.Fatalf("err = %v", err)
	}
	_, err = Convert(Options{Algorithm: "eagle3", Source: "testdata/eagle3_bin", Verifier: "testdata/verifier_llama", OutputPath: filepath.Join(t.TempDir(), "o"), Kwargs: map[string]any{"num_speculative_steps": json.Number("2")}})
	if err == nil || !strings.Contains(err.Error(), "num_speculative_steps") {
		t.Fatalf("err = %v", err)
	}
}

// TestStitchFailures: a finetuned tensor the verifier lacks, or with another
// shape, is an error naming it, and nothing is written.
func TestStitchFailures(t *testing.T) {
	for _, tc := range []struct {
		tensor safetensors.Tensor
		want   string
	}{
		{rnd("mtp_layers.0.mlp.bogus.weight", 2, 2), "mtp.layers.0.mlp.bogus.weight (from finetuned mtp_layers.0.mlp.bogus.weight) is not in the verifier"},
		{rnd("mtp_layers.0.final_layernorm.weight", 9), "mtp.norm.weight: finetuned shape [9], verifier [8]"},
		{rnd("model.layers.0.input_layernorm.weight", 8), "not part of an MTP head"},
	} {
		dir := t.TempDir()
		ft := filepath.Join(dir, "ft")
		os.MkdirAll(ft, 0o755)
		if err := safetensors.WriteFile(filepath.Join(ft, "model.safetensors"), []safetensors.Tensor{tc.tensor}, nil); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		_, err := Stitch(StitchOptions{Finetuned: ft, Verifier: "testdata/mtp_verifier/", OutputPath: out})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("output written")
		}
	}
}

// TestCastTables: the direct F16<->BF16 tables agree with going through
// float32 for every bit pattern.
func TestCastTables(t *testing.T) {
	src := make([]byte, 2*65536)
	for i := 0; i < 65536; i++ {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	for _, c := range [][2]safetensors.DType{{safetensors.F16, safetensors.BF16}, {safetensors.BF16, safetensors.F16}} {
		got := convertFloat(make([]byte, 2*65536), src, c[0], c[1])
		for i := 0; i < 65536; i++ {
			var f float32
			var want uint16
			if c[0] == safetensors.F16 {
				f = safetensors.F16ToFloat32(uint16(i))
				want = safetensors.Float32ToBF16(f)
			} else {
				f = safetensors.BF16ToFloat32(uint16(i))
				want = safetensors.Float32ToF16(f)
			}
			if g := binary.LittleEndian.Uint16(got[2*i:]); g != want {
				t.Fatalf("%s %04x -> %s %04x, want %04x", c[0], i, c[1], g, want)
			}
		}
	}
}
