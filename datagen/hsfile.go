package datagen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/pytorch"
	"github.com/speculators-go/speculators/safetensors"
)

// Tensor names of a hidden-state file (training-spec §2.4).
const (
	KeyHidden = "hidden_states"
	KeyTokens = "token_ids"
)

// maxFileBytes bounds a hidden-state file read into memory (64 GiB covers
// a 128k-token row of an H=8192 verifier with 3 aux layers in BF16).
const maxFileBytes = 64 << 30

// HiddenStates is the payload of one row.
type HiddenStates struct {
	TokenIDs []int64 // (S)
	// Hidden is (S, Slots, H) little-endian values of DType, slot Slots-1
	// being the verifier's last layer.
	Hidden     []byte
	DType      safetensors.DType
	Seq, Slots int
	HiddenSize int
}

// FileName is the name of row i's file, as the Python tools name it.
func FileName(i int) string { return "hs_" + strconv.Itoa(i) + ".safetensors" }

// ParseFileName returns the row index of a hs_{i}.safetensors name; names
// with a non-integer index are not hidden-state files (Python ignores them too).
func ParseFileName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "hs_")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".safetensors")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}

// Float32 decodes Hidden (S, Slots, H).
func (h *HiddenStates) Float32() ([]float32, error) {
	n := h.Seq * h.Slots * h.HiddenSize
	out := make([]float32, n)
	b := h.Hidden
	switch h.DType {
	case safetensors.BF16:
		for i := range out {
			out[i] = safetensors.BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case safetensors.F16:
		for i := range out {
			out[i] = safetensors.F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case safetensors.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	default:
		return nil, fmt.Errorf("datagen: hidden_states dtype %s is not a float type", h.DType)
	}
	return out, nil
}

// Aux returns the aux-layer states flattened as training reads them:
// payload[:, :-1].flatten(1), (S, (Slots-1)·H), and the last layer (S, H).
func (h *HiddenStates) Aux() (aux, last []float32, err error) {
	all, err := h.Float32()
	if err != nil {
		return nil, nil, err
	}
	A, H := h.Slots-1, h.HiddenSize
	aux = make([]float32, 0, h.Seq*A*H)
	last = make([]float32, 0, h.Seq*H)
	for s := 0; s < h.Seq; s++ {
		row := all[s*h.Slots*H : (s+1)*h.Slots*H]
		aux = append(aux, row[:A*H]...)
		last = append(last, row[A*H:]...)
	}
	return aux, last, nil
}

// Check validates a payload as speculators' check_hidden_states does
// (training-spec §2.4): token ids equal want (when want is non-nil), the
// first dimension is the token count, and, with finite, every value is
// finite (the error names the affected layer slots).
func (h *HiddenStates) Check(want []int64, finite bool) error {
	if h.Seq != len(h.TokenIDs) {
		return fmt.Errorf("hidden_states has %d rows but token_ids has %d", h.Seq, len(h.TokenIDs))
	}
	if want != nil {
		if len(want) != len(h.TokenIDs) {
			return fmt.Errorf("token_ids has %d tokens, the row has %d", len(h.TokenIDs), len(want))
		}
		for i := range want {
			if want[i] != h.TokenIDs[i] {
				return fmt.Errorf("token_ids[%d] = %d, the row has %d", i, h.TokenIDs[i], want[i])
			}
		}
	}
	if !finite {
		return nil
	}
	if h.DType != safetensors.BF16 && h.DType != safetensors.F16 && h.DType != safetensors.F32 {
		return fmt.Errorf("hidden_states dtype %s is not a float type", h.DType)
	}
	bad := map[int]int{}
	es := h.DType.Size()
	n := h.Seq * h.Slots * h.HiddenSize
	for i := 0; i < n; i++ {
		var ok bool
		switch h.DType {
		case safetensors.BF16:
			ok = binary.LittleEndian.Uint16(h.Hidden[i*es:])&0x7f80 != 0x7f80
		case safetensors.F16:
			ok = binary.LittleEndian.Uint16(h.Hidden[i*es:])&0x7c00 != 0x7c00
		case safetensors.F32:
			ok = binary.LittleEndian.Uint32(h.Hidden[i*es:])&0x7f800000 != 0x7f800000
		}
		if !ok {
			bad[(i/h.HiddenSize)%h.Slots]++
		}
	}
	if len(bad) > 0 {
		var parts []string
		for s := 0; s < h.Slots; s++ {
			if bad[s] > 0 {
				parts = append(parts, fmt.Sprintf("slot %d: %d values", s, bad[s]))
			}
		}
		return fmt.Errorf("non-finite hidden states (%s)", strings.Join(parts, ", "))
	}
	return nil
}

// Tensors returns the payload as safetensors tensors, in the layout the
// Python tools write.
func (h *HiddenStates) Tensors() []safetensors.Tensor {
	ids := make([]byte, 8*len(h.TokenIDs))
	for i, v := range h.TokenIDs {
		binary.LittleEndian.PutUint64(ids[8*i:], uint64(v))
	}
	return []safetensors.Tensor{
		{Name: KeyHidden, DType: h.DType, Shape: []int64{int64(h.Seq), int64(h.Slots), int64(h.HiddenSize)}, Data: h.Hidden},
		{Name: KeyTokens, DType: safetensors.I64, Shape: []int64{int64(len(h.TokenIDs))}, Data: ids},
	}
}

// Write saves the payload atomically as a safetensors file.
func (h *HiddenStates) Write(path string) error {
	if err := safetensors.WriteFile(path, h.Tensors(), map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	return nil
}

// ReadFile reads a hidden-state file written by either tool: a
// hs_{i}.safetensors file (hidden_states [S, A+1, H] and token_ids [S]),
// or an older speculators per-sample data_{i}.pt torch file (input_ids
// [S] and hidden_states, a list of A+1 tensors [S, H]) through the
// restricted unpickler.
func ReadFile(path string) (*HiddenStates, error) {
	if strings.HasSuffix(path, ".pt") || strings.HasSuffix(path, ".bin") {
		h, err := readTorch(path)
		if err != nil {
			return nil, fmt.Errorf("datagen: %s: %w", path, err)
		}
		return h, nil
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	defer f.Close()
	h, err := fromSafetensors(f)
	if err != nil {
		return nil, fmt.Errorf("datagen: %s: %w", path, err)
	}
	return h, nil
}

func fromSafetensors(f *safetensors.File) (*HiddenStates, error) {
	hi, ok := f.Info(KeyHidden)
	if !ok {
		return nil, errors.New("no hidden_states tensor")
	}
	ti, ok := f.Info(KeyTokens)
	if !ok {
		return nil, errors.New("no token_ids tensor")
	}
	if len(hi.Shape) != 3 {
		return nil, fmt.Errorf("hidden_states has shape %v, want [seq, layers, hidden]", hi.Shape)
	}
	if !hi.DType.IsFloat() {
		return nil, fmt.Errorf("hidden_states has dtype %s, want a float type", hi.DType)
	}
	if len(ti.Shape) != 1 {
		return nil, fmt.Errorf("token_ids has shape %v, want [seq]", ti.Shape)
	}
	if hi.Shape[1] < 1 || hi.Shape[2] < 1 {
		return nil, fmt.Errorf("hidden_states has shape %v", hi.Shape)
	}
	if hi.NumBytes() > maxFileBytes {
		return nil, fmt.Errorf("hidden_states is %d bytes (at most %d)", hi.NumBytes(), int64(maxFileBytes))
	}
	ids, err := f.Int64(KeyTokens)
	if err != nil {
		return nil, err
	}
	b, err := f.Bytes(KeyHidden)
	if err != nil {
		return nil, err
	}
	return &HiddenStates{
		TokenIDs: ids, Hidden: append([]byte(nil), b...), DType: hi.DType,
		Seq: int(hi.Shape[0]), Slots: int(hi.Shape[1]), HiddenSize: int(hi.Shape[2]),
	}, nil
}

// readTorch reads the older per-sample format: {"input_ids": [S],
// "hidden_states": [h_0 .. h_A] each [S, H], "loss_mask": [S]}, whose list
// entries the unpickler names hidden_states.0 ... hidden_states.A; a file
// with the new keys (hidden_states [S, A+1, H], token_ids) is read as well.
func readTorch(path string) (*HiddenStates, error) {
	tf, err := pytorch.Open(path)
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	idsName := KeyTokens
	if _, ok := tf.Tensor(idsName); !ok {
		idsName = "input_ids"
	}
	it, ok := tf.Tensor(idsName)
	if !ok {
		return nil, errors.New("neither token_ids nor input_ids present")
	}
	if len(it.Shape()) != 1 {
		return nil, fmt.Errorf("%s has shape %v, want [seq]", idsName, it.Shape())
	}
	ids, err := torchInt64(it)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", idsName, err)
	}
	S := len(ids)
	var layers []*pytorch.Tensor
	if t, ok := tf.Tensor(KeyHidden); ok {
		layers = []*pytorch.Tensor{t}
	} else {
		for k := 0; ; k++ {
			t, ok := tf.Tensor(KeyHidden + "." + strconv.Itoa(k))
			if !ok {
				break
			}
			layers = append(layers, t)
		}
	}
	if len(layers) == 0 {
		return nil, errors.New("no hidden_states")
	}
	h := &HiddenStates{TokenIDs: ids, Seq: S, DType: layers[0].DType()}
	if !h.DType.IsFloat() {
		return nil, fmt.Errorf("hidden_states has dtype %s, want a float type", h.DType)
	}
	if len(layers) == 1 && len(layers[0].Shape()) == 3 {
		sh := layers[0].Shape()
		if sh[0] != int64(S) || sh[1] < 1 || sh[2] < 1 {
			return nil, fmt.Errorf("hidden_states has shape %v for %d tokens", sh, S)
		}
		h.Slots, h.HiddenSize = int(sh[1]), int(sh[2])
		if int64(h.DType.Size())*sh[0]*sh[1]*sh[2] > maxFileBytes {
			return nil, errors.New("hidden_states too large")
		}
		if h.Hidden, err = layers[0].Bytes(); err != nil {
			return nil, err
		}
		return h, nil
	}
	// A list of (S, H) tensors: interleave into (S, A+1, H).
	h.Slots = len(layers)
	var per [][]byte
	for k, t := range layers {
		sh := t.Shape()
		if len(sh) != 2 || sh[0] != int64(S) || sh[1] < 1 {
			return nil, fmt.Errorf("hidden_states[%d] has shape %v, want [%d, hidden]", k, sh, S)
		}
		if k == 0 {
			h.HiddenSize = int(sh[1])
		} else if int(sh[1]) != h.HiddenSize || t.DType() != h.DType {
			return nil, fmt.Errorf("hidden_states[%d] is %s %v, hidden_states[0] is %s [%d, %d]", k, t.DType(), sh, h.DType, S, h.HiddenSize)
		}
		if int64(h.Slots)*t.NumBytes() > maxFileBytes {
			return nil, errors.New("hidden_states too large")
		}
		b, err := t.Bytes()
		if err != nil {
			return nil, err
		}
		per = append(per, b)
	}
	row := h.HiddenSize * h.DType.Size()
	h.Hidden = make([]byte, S*h.Slots*row)
	for s := 0; s < S; s++ {
		for k := range per {
			copy(h.Hidden[(s*h.Slots+k)*row:], per[k][s*row:(s+1)*row])
		}
	}
	return h, nil
}

func torchInt64(t *pytorch.Tensor) ([]int64, error) {
	if t.NumElements() > 1<<28 {
		return nil, errors.New("too many tokens")
	}
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]int64, n)
	switch t.DType() {
	case safetensors.I64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case safetensors.I32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	default:
		return nil, fmt.Errorf("dtype %s, want I64 or I32", t.DType())
	}
	return out, nil
}

// fileExists reports whether path names a regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

var _ = filepath.Join
