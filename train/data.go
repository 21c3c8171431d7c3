package train

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/safetensors"
)

// Row is one prepared dataset row (training-spec §1.6). Index is its
// position in the whole dataset, which names its hidden-state file.
type Row struct {
	Index    int
	InputIDs []int64
	LossMask []int64
}

// ReadRows reads a prepared dataset folder in row order: the Parquet shards
// listed in metadata.json ("speculators prepare"), or the data-*.arrow
// shards that speculators' prepare_data.py writes.
func ReadRows(dir string) ([]Row, error) {
	var out []Row
	add := func(ids, mask []int64, where string) error {
		if len(ids) != len(mask) {
			return fmt.Errorf("train: %s: row %d has %d input_ids and %d loss_mask values", where, len(out), len(ids), len(mask))
		}
		out = append(out, Row{Index: len(out), InputIDs: ids, LossMask: mask})
		return nil
	}
	if sum, err := dataset.ReadMetadata(dir); err == nil {
		if !sum.Complete {
			return nil, fmt.Errorf("train: %s: prepared data is incomplete (metadata.json says complete=false); re-run prepare", dir)
		}
		for _, s := range sum.Shards {
			if s.File != filepath.Base(s.File) {
				return nil, fmt.Errorf("train: %s: metadata.json names shard %q outside the folder", dir, s.File)
			}
			p := filepath.Join(dir, s.File)
			rows, err := dataset.ReadParquetRows(p)
			if err != nil {
				return nil, fmt.Errorf("train: %w", err)
			}
			if len(rows) != s.Rows {
				return nil, fmt.Errorf("train: %s: %d rows, metadata.json says %d", p, len(rows), s.Rows)
			}
			for _, r := range rows {
				if err := add(r.InputIDs, r.LossMask, p); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("train: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "data-*.arrow"))
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("train: %s: no prepared data (metadata.json with Parquet shards, or data-*.arrow)", dir)
	}
	slices.Sort(files)
	for _, p := range files {
		var bad []dataset.Problem
		_, err := dataset.ReadFile(p, &dataset.Warnings{}, func(e dataset.Example) {
			if !e.Tokenized() {
				bad = append(bad, dataset.Problem{Loc: e.Loc, Reason: "not_tokenized", Detail: "row has no input_ids/loss_mask"})
				return
			}
			if err := add(e.InputIDs, e.LossMask, p); err != nil {
				bad = append(bad, dataset.Problem{Loc: e.Loc, Reason: dataset.ReasonLengthMismatch, Detail: err.Error()})
			}
		}, func(pr dataset.Problem) { bad = append(bad, pr) })
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if len(bad) > 0 {
			// Rows are matched to hs_{i} by position, so a lost row would
			// shift every later one.
			return nil, fmt.Errorf("train: %s: %d unreadable rows (first: %v)", p, len(bad), bad[0])
		}
	}
	return out, nil
}

// Split returns the training and validation rows: the first
// int(N·ratio) rows train (training-spec §4.1); both keep their indices.
func Split(rows []Row, ratio float64) (trainRows, valRows []Row, err error) {
	if !(ratio > 0 && ratio < 1) {
		return nil, nil, fmt.Errorf("train: train data ratio %g must lie strictly between 0 and 1", ratio)
	}
	k := int(float64(len(rows)) * ratio)
	return rows[:k], rows[k:], nil
}

// HiddenStatePath is the hidden-state file of dataset row i.
func HiddenStatePath(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("hs_%d.safetensors", i))
}

// MaxHiddenStateFile bounds one hs file (an 8192-token sample of a 4096
// model is about 268 MB).
const MaxHiddenStateFile = 64 << 30

// loader fills packed batches from rows and their hidden-state files.
type loader struct {
	hsDir  string
	A, H   int // aux layers, hidden size
	V      int // verifier vocabulary
	warn   func(format string, args ...any)
	dec    []float32 // one (A+1)·H row
	loaded int       // samples loaded
	skip   int       // samples skipped
}

// fill packs rows into b as CollateFn does after shift_batch (training-spec
// §4.3-4.4): each sample contributes S−1 shifted positions, the last one is
// cut at b.T, and the rest is padding. A sample whose hidden states are
// missing or disagree with its row is skipped with a warning, as the Python
// dataset does; a batch with nothing left is all padding.
func (l *loader) fill(b *eagle3.Batch, rows []Row) error {
	T := cap(b.IDs)
	b.T = T
	AH, H := l.A*l.H, l.H
	at := 0
	doc := int32(0)
	for _, r := range rows {
		if at >= T {
			break
		}
		n, err := l.sample(b, r, at, doc)
		if err != nil {
			return err
		}
		if n < 0 {
			l.skip++
			continue
		}
		l.loaded++
		at += n
		if n > 0 {
			doc++
		}
	}
	for i := at; i < T; i++ {
		b.IDs[i], b.Mask[i], b.Pos[i], b.Doc[i] = 0, 0, 0, -1
	}
	clear(b.Aux[at*AH : T*AH])
	clear(b.VerifierLast[at*H : T*H])
	return nil
}

// sample writes row r at position at and returns the positions used, or
// −1 when the sample is skipped. Errors are reserved for I/O failures that
// should stop training.
func (l *loader) sample(b *eagle3.Batch, r Row, at int, doc int32) (int, error) {
	path := HiddenStatePath(l.hsDir, r.Index)
	skip := func(format string, args ...any) (int, error) {
		l.warn("train: skipping sample %d (%s): %s", r.Index, path, fmt.Sprintf(format, args...))
		return -1, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return skip("no hidden-state file")
		}
		return 0, fmt.Errorf("train: %w", err)
	}
	if fi.Size() > MaxHiddenStateFile {
		return skip("%d bytes is larger than the %d-byte limit", fi.Size(), int64(MaxHiddenStateFile))
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return skip("%v", err)
	}
	defer f.Close()
	S := len(r.InputIDs)
	hi, ok := f.Info("hidden_states")
	if !ok {
		return skip("no hidden_states tensor")
	}
	if len(hi.Shape) != 3 || hi.Shape[0] != int64(S) || hi.Shape[1] != int64(l.A+1) || hi.Shape[2] != int64(l.H) {
		return skip("hidden_states shape %v, want [%d %d %d] (tokens, aux layers + last, hidden)", hi.Shape, S, l.A+1, l.H)
	}
	if !hi.DType.IsFloat() {
		return skip("hidden_states dtype %s is not a float type", hi.DType)
	}
	ti, ok := f.Info("token_ids")
	if !ok || len(ti.Shape) != 1 || ti.Shape[0] != int64(S) {
		return skip("token_ids missing or of shape %v, want [%d]", ti.Shape, S)
	}
	ids, err := f.Int64("token_ids")
	if err != nil {
		return skip("%v", err)
	}
	for i, id := range ids {
		if id != r.InputIDs[i] {
			return skip("token_ids differ from the row's input_ids at position %d (%d vs %d)", i, id, r.InputIDs[i])
		}
		if id < 0 || id >= int64(l.V) {
			return skip("token id %d at position %d is outside the verifier vocabulary of %d", id, i, l.V)
		}
	}
	raw, err := f.Bytes("hidden_states")
	if err != nil {
		return skip("%v", err)
	}
	n := min(S-1, cap(b.IDs)-at)
	if n <= 0 {
		return 0, nil
	}
	AH, H := l.A*l.H, l.H
	rowLen := (l.A + 1) * H
	es := hi.DType.Size()
	if len(l.dec) < rowLen {
		l.dec = make([]float32, rowLen)
	}
	for i := 0; i <= n; i++ {
		if err := decodeFloats(l.dec[:rowLen], raw[i*rowLen*es:(i+1)*rowLen*es], hi.DType); err != nil {
			return skip("%v", err)
		}
		row := l.dec[:rowLen]
		for _, v := range row {
			if v-v != 0 {
				return skip("non-finite hidden state at token %d", i)
			}
		}
		if i < n { // g[:-1]: aux states of token i feed position i
			copy(b.Aux[(at+i)*AH:(at+i+1)*AH], row[:AH])
		}
		if i > 0 { // y[1:]: last-layer state of token i feeds position i−1
			copy(b.VerifierLast[(at+i-1)*H:(at+i)*H], row[AH:])
		}
	}
	for i := 0; i < n; i++ {
		b.IDs[at+i] = int32(r.InputIDs[i+1])
		m := r.LossMask[i+1]
		if m != 0 && m != 1 {
			return skip("loss_mask value %d at position %d is not 0 or 1", m, i+1)
		}
		b.Mask[at+i] = float32(m)
		b.Pos[at+i] = int32(i + 1)
		b.Doc[at+i] = doc
	}
	return n, nil
}

// decodeFloats converts little-endian floats of dtype dt into dst.
func decodeFloats(dst []float32, src []byte, dt safetensors.DType) error {
	switch dt {
	case safetensors.BF16:
		for i := range dst {
			dst[i] = safetensors.BF16ToFloat32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	case safetensors.F16:
		for i := range dst {
			dst[i] = safetensors.F16ToFloat32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	case safetensors.F32:
		for i := range dst {
			u := uint32(src[4*i]) | uint32(src[4*i+1])<<8 | uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24
			dst[i] = float32frombits(u)
		}
	default:
		return fmt.Errorf("hidden_states dtype %s unsupported (want BF16, F16 or F32)", dt)
	}
	return nil
}

func float32frombits(u uint32) float32 { return math.Float32frombits(u) }
