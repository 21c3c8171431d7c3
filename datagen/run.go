package datagen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/speculators-go/speculators/dataset"
	"github.com/speculators-go/speculators/internal/atomicfile"
	"github.com/speculators-go/speculators/safetensors"
)

// Options configure Run. Exactly one of Model (embedded runtime) and
// Endpoint (vLLM) is set.
type Options struct {
	Prepared string        // prepared dataset folder
	Rows     []dataset.Row // rows to use instead of reading Prepared
	Output   string        // output folder (default <Prepared>/hidden_states)

	Model     string // embedded: Hugging Face verifier directory
	Endpoint  string // vLLM: base URL such as http://host:8000/v1
	ModelName string // vLLM: served model name; must match GET /models when set

	// Layers are the aux layer ids (default [2, N/2, N-3]); the last layer
	// N is captured after them. For vLLM the ids only label the manifest
	// (the server was launched with them) and N must be given as LastLayer.
	Layers    []int
	LastLayer int // vLLM: the verifier's layer count N (0: unknown)

	MaxSamples int // process rows [0, min(MaxSamples, N)); 0 means all
	WorldSize  int // rows are split round-robin: row i belongs to rank i mod WorldSize
	Rank       int

	Validate             bool          // check every written file's values are finite
	Concurrency          int           // vLLM: requests in flight (default 32)
	RequestTimeout       time.Duration // vLLM: per attempt (default 120 s)
	MaxRetries           int           // vLLM: retries after the first attempt (default 3); < 0 means none
	MaxConsecutiveErrors int           // abort after this many failed rows in a row (default Concurrency)
	FailOnError          bool          // abort on the first failed row
	Backoff              time.Duration // vLLM: first retry delay, doubled each retry (default 2 s)
	LockTimeout          time.Duration // vLLM: wait for <file>.lock (default 10 s)

	BatchTokens int // embedded: tokens per forward pass (default 2048)
	BatchRows   int // embedded: rows per forward pass (default 32)

	Log           func(string)  // progress lines (default: discarded)
	ProgressEvery time.Duration // default 10 s
}

// Summary is the outcome of a run.
type Summary struct {
	Backend   string    `json:"backend"`
	Rows      int       `json:"rows"`       // rows assigned to this rank
	Kept      int       `json:"kept"`       // complete valid files found and kept
	Redone    int       `json:"redone"`     // partial or invalid files found and regenerated
	Written   int       `json:"written"`    // files written by this run
	Failed    []Failure `json:"failed"`     // rows that failed
	Aborted   string    `json:"aborted"`    // why the run stopped early, if it did
	Tokens    int64     `json:"tokens"`     // tokens written by this run
	Bytes     int64     `json:"bytes"`      // bytes written by this run
	Seconds   float64   `json:"seconds"`    // wall time
	Manifest  string    `json:"manifest"`   // manifest path
	HiddenDim int       `json:"hidden_dim"` // H
}

// Failure is a row that could not be generated.
type Failure struct {
	Row int    `json:"row"`
	Err string `json:"error"`
}

// BytesPerToken is the written bytes per token of this run.
func (s *Summary) BytesPerToken() float64 {
	if s.Tokens == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Tokens)
}

// TokensPerSecond is the throughput of this run.
func (s *Summary) TokensPerSecond() float64 {
	if s.Seconds == 0 {
		return 0
	}
	return float64(s.Tokens) / s.Seconds
}

// Manifest describes an output folder (or one rank's share of it).
type Manifest struct {
	Format     string         `json:"format"`
	Backend    string         `json:"backend"`
	Verifier   string         `json:"verifier"`
	LayerIDs   []int          `json:"layer_ids"`     // captured slots in order: aux ids then the last layer
	AuxLayers  []int          `json:"aux_layer_ids"` // what training is given
	DType      string         `json:"dtype"`
	HiddenSize int            `json:"hidden_size"`
	Rows       int            `json:"rows"`      // rows considered (after max samples)
	RankRows   int            `json:"rank_rows"` // rows of this rank
	WorldSize  int            `json:"world_size"`
	Rank       int            `json:"rank"`
	Complete   bool           `json:"complete"` // every row of this rank has a file
	Files      []ManifestFile `json:"files"`
	Failed     []Failure      `json:"failed,omitempty"`
}

// ManifestFile is one written hidden-state file.
type ManifestFile struct {
	File   string `json:"file"`
	Row    int    `json:"row"`
	Tokens int    `json:"tokens"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

const manifestFormat = "speculators-go/hidden-states-v1"

// ManifestName is the manifest file of a rank: manifest.json for a
// single rank, manifest.rank-R-of-W.json otherwise.
func ManifestName(worldSize, rank int) string {
	if worldSize <= 1 {
		return "manifest.json"
	}
	return fmt.Sprintf("manifest.rank-%d-of-%d.json", rank, worldSize)
}

// ReadManifest reads a manifest file.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("datagen: %s: %w", path, err)
	}
	return &m, nil
}

// job is one row to generate.
type job struct {
	row int
	ids []int64
}

// runner holds the state shared by both backends.
type runner struct {
	o       Options
	rows    []dataset.Row
	mine    []int // rows of this rank, ascending
	slots   int   // expected layer slots (A+1), 0 when unknown
	sum     Summary
	man     Manifest
	started time.Time

	mu          sync.Mutex
	files       map[int]ManifestFile
	failed      map[int]string
	consecutive int
	doneRows    int
	todoTokens  int64
	abort       context.CancelFunc
	lastLog     time.Time
}

func (o *Options) defaults() error {
	if (o.Model == "") == (o.Endpoint == "") {
		return errors.New("datagen: give exactly one of a model directory (embedded) and a vLLM endpoint")
	}
	if o.Output == "" {
		if o.Prepared == "" {
			return errors.New("datagen: no output folder")
		}
		o.Output = filepath.Join(o.Prepared, "hidden_states")
	}
	if o.WorldSize <= 0 {
		o.WorldSize = 1
	}
	if o.Rank < 0 || o.Rank >= o.WorldSize {
		return fmt.Errorf("datagen: rank %d outside [0, %d)", o.Rank, o.WorldSize)
	}
	if o.MaxSamples < 0 {
		return fmt.Errorf("datagen: max samples %d < 0", o.MaxSamples)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 120 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.MaxConsecutiveErrors <= 0 {
		o.MaxConsecutiveErrors = o.Concurrency
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 10 * time.Second
	}
	if o.BatchTokens <= 0 {
		o.BatchTokens = 2048
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 32
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	for _, l := range o.Layers {
		if l < 0 {
			return fmt.Errorf("datagen: layer id %d < 0", l)
		}
	}
	return nil
}

// Run generates the hidden-state files of this rank's rows that are
// missing or invalid in the output folder and writes the manifest. It
// returns an error only when the run could not proceed; failed rows are
// listed in the summary (and make a second run redo them).
func Run(ctx context.Context, o Options) (*Summary, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	r := &runner{o: o, started: time.Now(), files: map[int]ManifestFile{}, failed: map[int]string{}}
	r.rows = o.Rows
	if r.rows == nil {
		rows, err := LoadRows(o.Prepared)
		if err != nil {
			return nil, err
		}
		r.rows = rows
	}
	n := len(r.rows)
	if o.MaxSamples > 0 {
		n = min(n, o.MaxSamples)
	}
	for i := o.Rank; i < n; i += o.WorldSize {
		r.mine = append(r.mine, i)
	}
	if err := os.MkdirAll(o.Output, 0o755); err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	r.sum.Rows = len(r.mine)
	r.sum.Manifest = filepath.Join(o.Output, ManifestName(o.WorldSize, o.Rank))
	r.man = Manifest{Format: manifestFormat, DType: "bfloat16", Rows: n, RankRows: len(r.mine), WorldSize: o.WorldSize, Rank: o.Rank}

	var b backend
	var err error
	if o.Model != "" {
		b, err = newEmbedded(&r.o)
	} else {
		b, err = newVLLM(ctx, &r.o)
	}
	if err != nil {
		return nil, err
	}
	r.sum.Backend, r.man.Backend = b.name(), b.name()
	r.man.Verifier = b.verifier()
	r.man.AuxLayers, r.man.LayerIDs = b.layers()
	r.setShape(b.hiddenSize())

	todo := r.scan()
	o.Log(fmt.Sprintf("datagen: %s backend, rank %d of %d: %d rows, %d already complete, %d to generate (%d tokens), layers %v, output %s",
		b.name(), o.Rank, o.WorldSize, len(r.mine), r.sum.Kept, len(todo), r.todoTokens, r.man.LayerIDs, o.Output))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.abort = cancel
	r.lastLog = time.Now()
	runErr := b.run(ctx, r, todo)
	if runErr == nil && ctx.Err() != nil && r.sum.Aborted == "" {
		r.sum.Aborted = "interrupted: " + context.Cause(ctx).Error()
	}
	if r.man.HiddenSize == 0 {
		r.setShape(b.hiddenSize()) // a backend may learn it only while running
	}
	r.sum.Seconds = time.Since(r.started).Seconds()
	if err := r.writeManifest(); err != nil && runErr == nil {
		runErr = err
	}
	for row, msg := range r.failed {
		r.sum.Failed = append(r.sum.Failed, Failure{Row: row, Err: msg})
	}
	sort.Slice(r.sum.Failed, func(i, j int) bool { return r.sum.Failed[i].Row < r.sum.Failed[j].Row })
	o.Log(r.summaryLine())
	return &r.sum, runErr
}

// setShape records the hidden size and the layer slots every file must hold.
func (r *runner) setShape(hidden int) {
	r.man.HiddenSize = hidden
	switch {
	case r.man.LayerIDs != nil:
		r.slots = len(r.man.LayerIDs)
	case r.man.AuxLayers != nil:
		r.slots = len(r.man.AuxLayers) + 1
	}
	r.sum.HiddenDim = hidden
}

func (r *runner) summaryLine() string {
	s := &r.sum
	line := fmt.Sprintf("datagen: done in %.1fs: %d rows of rank %d, %d kept, %d written (%d redone), %d failed; %d tokens at %.1f tokens/s, %d bytes = %.0f bytes/token",
		s.Seconds, s.Rows, r.o.Rank, s.Kept, s.Written, s.Redone, len(s.Failed), s.Tokens, s.TokensPerSecond(), s.Bytes, s.BytesPerToken())
	if s.Aborted != "" {
		line += "; aborted: " + s.Aborted
	}
	if len(s.Failed) > 0 {
		var ids []string
		for i, f := range s.Failed {
			if i == 20 {
				ids = append(ids, "...")
				break
			}
			ids = append(ids, strconv.Itoa(f.Row))
		}
		line += "; failed rows: " + strings.Join(ids, ",") + " (first error: " + s.Failed[0].Err + ")"
	}
	return line
}

// scan checks the existing files of this rank's rows: complete valid files
// are kept (and hashed for the manifest), invalid ones removed, leftovers of
// interrupted writes deleted. It returns the rows to generate.
func (r *runner) scan() []job {
	old := map[string]ManifestFile{}
	if m, err := ReadManifest(r.sum.Manifest); err == nil {
		for _, f := range m.Files {
			old[f.File] = f
		}
	}
	var todo []job
	for _, i := range r.mine {
		name := FileName(i)
		path := filepath.Join(r.o.Output, name)
		if tmps, _ := filepath.Glob(filepath.Join(r.o.Output, "."+name+".tmp-*")); len(tmps) > 0 {
			for _, t := range tmps {
				os.Remove(t)
			}
		}
		ids := r.rows[i].InputIDs
		if _, err := os.Lstat(path); err == nil {
			mf, err := r.verify(path, i, ids, old[name])
			if err == nil {
				r.files[i] = mf
				r.sum.Kept++
				continue
			}
			r.o.Log(fmt.Sprintf("datagen: %s is invalid, regenerating: %v", name, err))
			os.Remove(path)
			r.sum.Redone++
		}
		todo = append(todo, job{row: i, ids: ids})
		r.todoTokens += int64(len(ids))
	}
	return todo
}

// verify checks an existing file against its row, the expected layout and
// its manifest checksum when one was recorded.
func (r *runner) verify(path string, row int, ids []int64, prev ManifestFile) (ManifestFile, error) {
	sum, size, err := hashFile(path)
	if err != nil {
		return ManifestFile{}, err
	}
	if prev.SHA256 != "" && (prev.SHA256 != sum || prev.Bytes != size) {
		return ManifestFile{}, fmt.Errorf("checksum %s differs from the manifest's %s", sum, prev.SHA256)
	}
	h, err := ReadFile(path)
	if err != nil {
		return ManifestFile{}, err
	}
	if err := r.checkPayload(h, ids); err != nil {
		return ManifestFile{}, err
	}
	return ManifestFile{File: filepath.Base(path), Row: row, Tokens: len(ids), Bytes: size, SHA256: sum}, nil
}

// checkPayload checks a payload's tokens, slot count, width and (with
// Validate) values.
func (r *runner) checkPayload(h *HiddenStates, ids []int64) error {
	if r.slots > 0 && h.Slots != r.slots {
		return fmt.Errorf("hidden_states has %d layer slots, want %d (aux layers %v and the last layer)", h.Slots, r.slots, r.man.AuxLayers)
	}
	if r.man.HiddenSize > 0 && h.HiddenSize != r.man.HiddenSize {
		return fmt.Errorf("hidden size %d, want %d", h.HiddenSize, r.man.HiddenSize)
	}
	if h.DType != safetensors.BF16 && r.o.Model != "" {
		return fmt.Errorf("hidden_states dtype %s, want BF16", h.DType)
	}
	return h.Check(ids, r.o.Validate)
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// succeeded records a written file.
func (r *runner) succeeded(mf ManifestFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[mf.Row] = mf
	delete(r.failed, mf.Row)
	r.sum.Written++
	r.sum.Tokens += int64(mf.Tokens)
	r.sum.Bytes += mf.Bytes
	r.consecutive = 0
	r.doneRows++
	r.progressLocked(false)
}

// failedRow records a row's final failure and applies the abort policy.
func (r *runner) failedRow(row int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed[row] = err.Error()
	r.consecutive++
	r.doneRows++
	r.o.Log(fmt.Sprintf("datagen: row %d failed: %v", row, err))
	switch {
	case r.o.FailOnError && r.sum.Aborted == "":
		r.sum.Aborted = fmt.Sprintf("row %d failed and fail-on-error is set", row)
		r.abort()
	case r.consecutive >= r.o.MaxConsecutiveErrors && r.sum.Aborted == "":
		r.sum.Aborted = fmt.Sprintf("%d consecutive failed rows (max-consecutive-errors %d)", r.consecutive, r.o.MaxConsecutiveErrors)
		r.abort()
	}
	r.progressLocked(false)
}

func (r *runner) progressLocked(force bool) {
	now := time.Now()
	if !force && now.Sub(r.lastLog) < r.o.ProgressEvery {
		return
	}
	r.lastLog = now
	el := now.Sub(r.started).Seconds()
	rate := float64(r.sum.Tokens) / max(el, 1e-9)
	eta := "?"
	if rate > 0 {
		left := float64(r.todoTokens-r.sum.Tokens) / rate
		eta = (time.Duration(max(left, 0)) * time.Second).String()
	}
	r.o.Log(fmt.Sprintf("datagen: %d/%d rows, %d/%d tokens, %.1f tokens/s, %d failed, ETA %s",
		r.sum.Kept+r.doneRows, len(r.mine), r.sum.Tokens, r.todoTokens, rate, len(r.failed), eta))
	if err := r.writeManifestLocked(); err != nil {
		r.o.Log(err.Error())
	}
}

func (r *runner) writeManifest() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writeManifestLocked()
}

// writeManifestLocked writes the manifest; it runs at the end and with
// each progress line, so that a killed run's files keep their checksums.
func (r *runner) writeManifestLocked() error {
	m := r.man
	m.Files = make([]ManifestFile, 0, len(r.files))
	for _, f := range r.files {
		m.Files = append(m.Files, f)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Row < m.Files[j].Row })
	for row, msg := range r.failed {
		m.Failed = append(m.Failed, Failure{Row: row, Err: msg})
	}
	sort.Slice(m.Failed, func(i, j int) bool { return m.Failed[i].Row < m.Failed[j].Row })
	m.Complete = len(m.Files) == len(r.mine)
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(r.sum.Manifest, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	return nil
}

// backend generates files for jobs.
type backend interface {
	name() string
	verifier() string
	layers() (aux, captured []int)
	hiddenSize() int
	// run generates every job's file, reporting through r.succeeded and
	// r.failedRow, until done or ctx is cancelled.
	run(ctx context.Context, r *runner, jobs []job) error
}

// captureIDs returns aux ids plus the last layer n (when absent).
func captureIDs(aux []int, n int) []int {
	out := append([]int(nil), aux...)
	for _, a := range aux {
		if a == n {
			return out
		}
	}
	return append(out, n)
}
