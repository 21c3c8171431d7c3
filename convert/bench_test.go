package convert

import (
	"encoding/binary"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/speculators-go/speculators/safetensors"
)

var benchSource = flag.String("bench-source", "", "write a full-size EAGLE-3 source (Llama-3.1-8B shapes, ~1.9 GB float16) and its verifier config under this directory, for scripts/bench_convert.sh")

// TestWriteBenchSource writes the source scripts/bench_convert.sh converts.
// It is skipped unless -bench-source is given.
func TestWriteBenchSource(t *testing.T) {
	if *benchSource == "" {
		t.Skip("pass -bench-source=DIR to write the benchmark source")
	}
	const H, I, V, Vd = 4096, 14336, 128256, 32000
	src := filepath.Join(*benchSource, "src")
	writeConfig(t, src, map[string]any{"architectures": []any{"LlamaForCausalLM"}, "hidden_size": H, "intermediate_size": I,
		"num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 1, "max_position_embeddings": 2048,
		"rms_norm_eps": 1e-05, "vocab_size": V, "draft_vocab_size": Vd, "torch_dtype": "float16"})
	writeConfig(t, filepath.Join(*benchSource, "verifier"), map[string]any{"architectures": []any{"LlamaForCausalLM"},
		"hidden_size": H, "num_hidden_layers": 32, "vocab_size": V, "max_position_embeddings": 131072})
	f16 := func(name string, shape ...int64) safetensors.Tensor {
		seed := uint64(len(name))*0x9e3779b97f4a7c15 + 1
		return safetensors.Tensor{Name: name, DType: safetensors.F16, Shape: shape, Write: func(w io.Writer) error {
			n := numel(shape)
			buf := make([]byte, 1<<20)
			for n > 0 {
				k := min(n, int64(len(buf)/2))
				for i := int64(0); i < k; i++ {
					seed ^= seed << 13
					seed ^= seed >> 7
					seed ^= seed << 17
					// finite halves in (-2, 2): sign, exponent <= 15, mantissa
					binary.LittleEndian.PutUint16(buf[2*i:], uint16(seed)&0xbbff)
				}
				if _, err := w.Write(buf[:2*k]); err != nil {
					return err
				}
				n -= k
			}
			return nil
		}}
	}
	p := "midlayer."
	ts := []safetensors.Tensor{
		f16("embed_tokens.weight", V, H), f16("fc.weight", H, 3*H), f16("norm.weight", H), f16("lm_head.weight", Vd, H),
		f16(p+"hidden_norm.weight", H), f16(p+"input_layernorm.weight", H), f16(p+"post_attention_layernorm.weight", H),
		f16(p+"self_attn.q_proj.weight", H, 2*H), f16(p+"self_attn.k_proj.weight", 1024, 2*H), f16(p+"self_attn.v_proj.weight", 1024, 2*H),
		f16(p+"self_attn.o_proj.weight", H, H), f16(p+"mlp.gate_proj.weight", I, H), f16(p+"mlp.up_proj.weight", I, H), f16(p+"mlp.down_proj.weight", H, I),
	}
	d2t := make([]byte, 8*Vd)
	t2d := make([]byte, V)
	for i := 0; i < Vd; i++ {
		sel := i * 4 // every 4th verifier id
		binary.LittleEndian.PutUint64(d2t[8*i:], uint64(sel-i))
		t2d[sel] = 1
	}
	ts = append(ts, safetensors.Tensor{Name: "d2t", DType: safetensors.I64, Shape: []int64{Vd}, Data: d2t},
		safetensors.Tensor{Name: "t2d", DType: safetensors.BOOL, Shape: []int64{V}, Data: t2d})
	if err := safetensors.WriteFile(filepath.Join(src, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(src, "model.safetensors"))
	t.Logf("wrote %s (%d bytes)", src, st.Size())
}

// BenchmarkCast measures the streaming dtype conversion (bytes of input).
func BenchmarkCast(b *testing.B) {
	for _, tc := range []struct {
		name     string
		from, to safetensors.DType
	}{{"bf16-f32", safetensors.BF16, safetensors.F32}, {"f32-bf16", safetensors.F32, safetensors.BF16}, {"f16-bf16", safetensors.F16, safetensors.BF16}} {
		b.Run(tc.name, func(b *testing.B) {
			src := make([]byte, chunkBytes)
			for i := range src {
				src[i] = byte(i * 7)
			}
			dst := make([]byte, chunkBytes/tc.from.Size()*tc.to.Size())
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				convertFloat(dst, src, tc.from, tc.to)
			}
		})
	}
}

// BenchmarkWritePieces measures streaming a column-sliced tensor (one piece
// per row, the dflash fc truncation) into a discarding writer.
func BenchmarkWritePieces(b *testing.B) {
	data := make([]byte, 1024*4096*2)
	t := memTensor("fc.weight", safetensors.BF16, data, 1024, 4096)
	o := colRange("fc.weight", t, 0, 3072)
	b.SetBytes(o.numBytes())
	b.ReportAllocs()
	for b.Loop() {
		if err := writePieces(io.Discard, &o, safetensors.BF16); err != nil {
			b.Fatal(err)
		}
	}
}
