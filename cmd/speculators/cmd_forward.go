package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/safetensors"
)

func init() { commands = append(commands, newForwardCmd) }

func newForwardCmd() *cobra.Command {
	var model, idsFlag, layersFlag, output string
	cmd := &cobra.Command{
		Use:   "forward --model DIR --ids 1,2,3 --output FILE.safetensors",
		Short: "Run one prefill and save logits and captured hidden states",
		Long: `Run the embedded verifier runtime over the given token ids in one prefill
and write FILE.safetensors with
  logits         [T, V] F32
  hidden_states  [T, A, H] F32, the states of the --layers ids in order
for debugging and parity checks against other implementations.

Layer ids follow vLLM's aux-layer convention: id k is the residual stream
entering decoder layer k (transformers' hidden_states[k]) and id N (the layer
count) is the last layer's output before the final norm. The default is the
EAGLE-3 aux ids [2, N/2, N-3] plus N. The ids are also stored in the file's
metadata as "layer_ids".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" || idsFlag == "" || output == "" {
				return &usageError{errors.New("forward: need --model, --ids and --output")}
			}
			ids, err := parseInts(idsFlag)
			if err != nil {
				return &usageError{fmt.Errorf("forward: --ids: %w", err)}
			}
			m, err := llama.Load(model)
			if err != nil {
				return err
			}
			layers := append(m.DefaultAuxLayers(), m.N())
			if layersFlag != "" {
				if layers, err = parseInts(layersFlag); err != nil {
					return &usageError{fmt.Errorf("forward: --layers: %w", err)}
				}
			}
			toks := make([]int32, len(ids))
			for i, v := range ids {
				if v < 0 || v > math.MaxInt32 {
					return fmt.Errorf("forward: token id %d out of range", v)
				}
				toks[i] = int32(v)
			}
			out, err := m.NewState(1).ForwardSeq(0, toks, llama.ForwardOptions{Logits: llama.LogitsAll, Capture: layers})
			if err != nil {
				return err
			}
			T, V, H, A := len(toks), m.V(), m.H(), len(layers)
			lid := make([]string, A)
			for i, l := range layers {
				lid[i] = strconv.Itoa(l)
			}
			err = safetensors.WriteFile(output, []safetensors.Tensor{
				{Name: "hidden_states", DType: safetensors.F32, Shape: []int64{int64(T), int64(A), int64(H)}, Data: f32Bytes(out.Hidden)},
				{Name: "logits", DType: safetensors.F32, Shape: []int64{int64(T), int64(V)}, Data: f32Bytes(out.Logits)},
			}, map[string]string{"format": "pt", "layer_ids": strings.Join(lid, ",")})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "forward: %d tokens, layers %v: wrote logits [%d, %d] and hidden_states [%d, %d, %d] to %s\n",
				T, layers, T, V, T, A, H, output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "Hugging Face model directory")
	f.StringVar(&idsFlag, "ids", "", "comma-separated token ids")
	f.StringVar(&layersFlag, "layers", "", "comma-separated layer ids to capture (default: 2, N/2, N-3, N)")
	f.StringVar(&output, "output", "", "output .safetensors file")
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", p)
		}
		out = append(out, v)
	}
	return out, nil
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
