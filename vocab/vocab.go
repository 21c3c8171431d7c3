// Package vocab builds and reads the draft-vocabulary mapping of a
// speculator: d2t (draft id -> offset to the verifier id) and t2d (verifier
// id -> in the draft vocabulary), chosen from token frequencies counted over
// supervised training tokens.
//
// The mapping is byte-compatible with the Python speculators library:
// the same selection and tie-breaking (frequency descending, then id
// ascending; fill with the smallest unused ids), the same offset encoding
// (verifier id = i + d2t[i]) and NumPy .npy files identical to np.save's.
// Token frequencies are read from and written as speculators' torch-pickled
// token_freq.pt, or from a JSON object {"id": count}.
package vocab

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/speculators-go/speculators/internal/atomicfile"
)

// Mapping is a draft vocabulary of Vd tokens inside a verifier vocabulary of
// V tokens.
type Mapping struct {
	D2T []int64 // (Vd) verifier id of draft id i is i + D2T[i]
	T2D []bool  // (V) true where the verifier id is in the draft vocabulary
}

// ErrMapping is wrapped by every invalid-mapping error.
var ErrMapping = errors.New("vocab: invalid mapping")

// Build selects the draft vocabulary: the draftSize most frequent ids (ties
// go to the smaller id), padded with the smallest unused ids when fewer
// distinct tokens were seen, as speculators'
// build_vocab_mappings_from_distribution does.
func Build(freq map[int]int64, draftSize, verifierSize int) (Mapping, error) {
	switch {
	case draftSize <= 0:
		return Mapping{}, fmt.Errorf("vocab: draft vocabulary size %d must be positive", draftSize)
	case verifierSize <= 0:
		return Mapping{}, fmt.Errorf("vocab: verifier vocabulary size %d must be positive", verifierSize)
	case draftSize > verifierSize:
		return Mapping{}, fmt.Errorf("vocab: draft vocabulary size %d is larger than the verifier vocabulary size %d", draftSize, verifierSize)
	case len(freq) == 0:
		return Mapping{}, errors.New("vocab: token frequencies are empty (no supervised tokens were counted)")
	}
	type tc struct {
		id int
		n  int64
	}
	order := make([]tc, 0, len(freq))
	for id, n := range freq {
		if id < 0 || id >= verifierSize {
			return Mapping{}, fmt.Errorf("vocab: token id %d in the frequencies is outside the verifier vocabulary [0, %d)", id, verifierSize)
		}
		if n < 0 {
			return Mapping{}, fmt.Errorf("vocab: token id %d has a negative count %d", id, n)
		}
		order = append(order, tc{id, n})
	}
	slices.SortFunc(order, func(a, b tc) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	selected := make([]int, 0, draftSize)
	in := make(map[int]bool, draftSize)
	for _, t := range order[:min(draftSize, len(order))] {
		selected = append(selected, t.id)
		in[t.id] = true
	}
	for id := 0; len(selected) < draftSize; id++ {
		if !in[id] {
			selected = append(selected, id)
		}
	}
	slices.Sort(selected)
	m := Mapping{D2T: make([]int64, draftSize), T2D: make([]bool, verifierSize)}
	for i, id := range selected {
		m.D2T[i] = int64(id - i)
		m.T2D[id] = true
	}
	return m, nil
}

// DraftSize is Vd.
func (m Mapping) DraftSize() int { return len(m.D2T) }

// VerifierSize is V.
func (m Mapping) VerifierSize() int { return len(m.T2D) }

// VerifierID returns the verifier id of draft id i.
func (m Mapping) VerifierID(i int) int { return i + int(m.D2T[i]) }

// Validate checks the invariants of format-spec §4.6: the ids i + d2t[i]
// are strictly increasing, inside [0, V), and exactly the ids where t2d is
// true.
func (m Mapping) Validate() error {
	vd, v := len(m.D2T), len(m.T2D)
	if vd == 0 {
		return fmt.Errorf("%w: d2t is empty", ErrMapping)
	}
	if vd > v {
		return fmt.Errorf("%w: d2t has %d entries, more than t2d's %d", ErrMapping, vd, v)
	}
	count := 0
	for _, b := range m.T2D {
		if b {
			count++
		}
	}
	if count != vd {
		return fmt.Errorf("%w: t2d marks %d ids but d2t has %d entries", ErrMapping, count, vd)
	}
	prev := int64(-1)
	for i, off := range m.D2T {
		id := int64(i) + off
		if id < 0 || id >= int64(v) {
			return fmt.Errorf("%w: d2t[%d] = %d maps to id %d outside [0, %d)", ErrMapping, i, off, id, v)
		}
		if id <= prev {
			return fmt.Errorf("%w: d2t[%d] maps to id %d, not above the previous %d", ErrMapping, i, id, prev)
		}
		if !m.T2D[id] {
			return fmt.Errorf("%w: d2t[%d] maps to id %d, which t2d does not mark", ErrMapping, i, id)
		}
		prev = id
	}
	return nil
}

// Save writes dir/d2t.npy and dir/t2d.npy atomically.
func (m Mapping) Save(dir string) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vocab: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "d2t.npy"), EncodeInt64NPY(m.D2T), 0o644); err != nil {
		return fmt.Errorf("vocab: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "t2d.npy"), EncodeBoolNPY(m.T2D), 0o644); err != nil {
		return fmt.Errorf("vocab: %w", err)
	}
	return nil
}

// Load reads a d2t.npy / t2d.npy pair (ours or np.save's) and validates it.
func Load(d2tPath, t2dPath string) (Mapping, error) {
	d2t, err := readNPYFile(d2tPath, DecodeInt64NPY)
	if err != nil {
		return Mapping{}, err
	}
	t2d, err := readNPYFile(t2dPath, DecodeBoolNPY)
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{D2T: d2t, T2D: t2d}
	if err := m.Validate(); err != nil {
		return Mapping{}, fmt.Errorf("%s, %s: %w", d2tPath, t2dPath, err)
	}
	return m, nil
}

// LoadDir reads dir/d2t.npy and dir/t2d.npy.
func LoadDir(dir string) (Mapping, error) {
	return Load(filepath.Join(dir, "d2t.npy"), filepath.Join(dir, "t2d.npy"))
}

// VerifierVocabSize reads vocab_size from a model directory's config.json,
// from text_config for vision-language models, as build_vocab_mapping.py does.
func VerifierVocabSize(modelDir string) (int, error) {
	path := filepath.Join(modelDir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("vocab: %w", err)
	}
	var cfg struct {
		VocabSize  *int `json:"vocab_size"`
		TextConfig *struct {
			VocabSize *int `json:"vocab_size"`
		} `json:"text_config"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return 0, fmt.Errorf("vocab: %s: %w", path, err)
	}
	v := cfg.VocabSize
	if cfg.TextConfig != nil && cfg.TextConfig.VocabSize != nil {
		v = cfg.TextConfig.VocabSize
	}
	if v == nil || *v <= 0 {
		return 0, fmt.Errorf("vocab: %s has no positive vocab_size (nor text_config.vocab_size)", path)
	}
	return *v, nil
}
