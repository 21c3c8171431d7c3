package eval

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/safetensors"
)

// OfflineOptions control Offline.
type OfflineOptions struct {
	K          int       // TTT steps (draft positions) to score; 0: the config's speculative_tokens
	MaxSamples int       // 0: all files
	MaxSeqLen  int       // longer samples are truncated; 0 means 4096
	Log        io.Writer // progress lines; nil for none
}

// OfflineReport is eval.json of an offline (teacher-forced) evaluation: the
// training metrics of model/eagle3 without training.
type OfflineReport struct {
	Speculator  string    `json:"speculator"`
	DataPath    string    `json:"data_path"`
	K           int       `json:"num_speculative_tokens"`
	Samples     int       `json:"samples"`
	Positions   int       `json:"positions"`
	Loss        float64   `json:"loss"`
	FullAcc     []float64 `json:"full_acc"` // P(first k+1 drafts correct) = predicted per-position acceptance
	CondAcc     []float64 `json:"cond_acc"`
	Tau         float64   `json:"mean_acceptance_length"` // 1 + Σ full_acc
	PerPosition []float64 `json:"acceptance_per_position"`
}

// HiddenStateFiles lists the hs_{i}.safetensors files of dir in index order;
// other names (hs_<non-integer>) are ignored, as in speculators.
func HiddenStateFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	type f struct {
		i    int
		name string
	}
	var fs []f
	for _, e := range ents {
		n := e.Name()
		s, ok := strings.CutPrefix(n, "hs_")
		if !ok {
			continue
		}
		s, ok = strings.CutSuffix(s, ".safetensors")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 {
			continue
		}
		fs = append(fs, f{i, filepath.Join(dir, n)})
	}
	slices.SortFunc(fs, func(a, b f) int { return a.i - b.i })
	out := make([]string, len(fs))
	for i, x := range fs {
		out[i] = x.name
	}
	return out, nil
}

// ReadHiddenStates reads one hs_{i}.safetensors payload (training-spec
// §2.4: hidden_states (S, A+1, H), token_ids (S)) into a training sample,
// truncated to maxLen positions. The dataset's loss mask lives in the Arrow
// rows, which are not read: the mask is all ones unless the payload carries
// an optional loss_mask (S) tensor (an extension; data generation does not
// write it).
func ReadHiddenStates(path string, A, H, maxLen int) (eagle3.Sample, error) {
	var s eagle3.Sample
	f, err := safetensors.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	hi, ok := f.Info("hidden_states")
	if !ok {
		return s, fmt.Errorf("eval: %s: no hidden_states tensor", path)
	}
	ti, ok := f.Info("token_ids")
	if !ok {
		return s, fmt.Errorf("eval: %s: no token_ids tensor", path)
	}
	if len(hi.Shape) != 3 || hi.Shape[1] != int64(A+1) || hi.Shape[2] != int64(H) {
		return s, fmt.Errorf("eval: %s: hidden_states has shape %v, want (S, %d, %d)", path, hi.Shape, A+1, H)
	}
	S := hi.Shape[0]
	if len(ti.Shape) != 1 || ti.Shape[0] != S {
		return s, fmt.Errorf("eval: %s: token_ids has shape %v, want (%d)", path, ti.Shape, S)
	}
	if S < 2 {
		return s, fmt.Errorf("eval: %s: %d tokens, need at least 2", path, S)
	}
	n := int(min(S, int64(maxLen)))
	ids, err := f.Int64("token_ids")
	if err != nil {
		return s, err
	}
	hs, err := f.Float32("hidden_states")
	if err != nil {
		return s, err
	}
	var mask []int64
	if mi, ok := f.Info("loss_mask"); ok {
		if len(mi.Shape) != 1 || mi.Shape[0] != S {
			return s, fmt.Errorf("eval: %s: loss_mask has shape %v, want (%d)", path, mi.Shape, S)
		}
		if mask, err = f.Int64("loss_mask"); err != nil {
			return s, err
		}
	}
	row := (A + 1) * H
	s.IDs = make([]int32, n)
	s.LossMask = make([]float32, n)
	s.Aux = make([]float32, n*A*H)
	s.VerifierLast = make([]float32, n*H)
	for t := range n {
		if ids[t] < 0 || ids[t] > 1<<31-1 {
			return s, fmt.Errorf("eval: %s: token id %d at %d", path, ids[t], t)
		}
		s.IDs[t] = int32(ids[t])
		s.LossMask[t] = 1
		if mask != nil && mask[t] == 0 {
			s.LossMask[t] = 0
		}
		copy(s.Aux[t*A*H:(t+1)*A*H], hs[t*row:t*row+A*H])
		copy(s.VerifierLast[t*H:(t+1)*H], hs[t*row+A*H:(t+1)*row])
	}
	return s, nil
}

// Offline scores a loaded EAGLE-3 draft (with its verifier weights set) on
// the hidden-state files of dataPath, teacher-forced: each sample is one
// batch through the training forward pass without gradients.
func Offline(m *eagle3.Model, dataPath string, o OfflineOptions) (*OfflineReport, error) {
	files, err := HiddenStateFiles(dataPath)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("eval: %s: no hs_{i}.safetensors files", dataPath)
	}
	if o.MaxSamples > 0 && len(files) > o.MaxSamples {
		files = files[:o.MaxSamples]
	}
	maxLen := o.MaxSeqLen
	if maxLen <= 0 {
		maxLen = 4096
	}
	K := o.K
	if K <= 0 {
		K = m.Cfg.SpeculativeTokens()
		if K <= 0 {
			K = 3
		}
	}
	AH := m.A * m.H
	var ws *eagle3.Workspace
	var b *eagle3.Batch
	capT := 0
	var total eagle3.Metrics
	r := &OfflineReport{DataPath: dataPath, K: K}
	for i, path := range files {
		s, err := ReadHiddenStates(path, m.A, m.H, maxLen)
		if err != nil {
			return nil, err
		}
		T := len(s.IDs) - 1
		if T > capT {
			capT = max(T, 64)
			ws = m.NewWorkspace(capT, K)
			b = eagle3.NewBatch(capT, AH, m.H)
		}
		b.T = T
		if err := eagle3.Pack(b, []eagle3.Sample{s}, AH, m.H); err != nil {
			return nil, fmt.Errorf("eval: %s: %w", path, err)
		}
		met, err := m.Forward(ws, b, eagle3.StepOptions{TTTSteps: K})
		if err != nil {
			return nil, fmt.Errorf("eval: %s: %w", path, err)
		}
		total.Add(met)
		r.Samples++
		r.Positions += T
		if o.Log != nil && ((i+1)%50 == 0 || i+1 == len(files)) {
			fmt.Fprintf(o.Log, "eval --offline: %d/%d samples, τ %.3f\n", i+1, len(files), total.AcceptanceLength())
		}
	}
	if r.Samples == 0 {
		return nil, errors.New("eval: no samples")
	}
	r.Loss = total.Loss()
	for k := range total.Steps {
		r.FullAcc = append(r.FullAcc, total.FullAcc(k))
		r.CondAcc = append(r.CondAcc, total.CondAcc(k))
	}
	r.PerPosition = r.FullAcc
	r.Tau = total.AcceptanceLength()
	return r, nil
}
