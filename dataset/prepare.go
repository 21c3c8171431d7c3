package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/internal/atomicfile"
	"github.com/speculators-go/speculators/tokenizer"
	"github.com/speculators-go/speculators/vocab"
)

// Options configure Prepare; the fields mirror speculators' prepare_data.py.
type Options struct {
	Model          string   // verifier model directory: tokenizer.json, tokenizer_config.json, chat template
	Sources        []string // --data references (files, folders, name:split)
	Output         string   // output folder
	SeqLength      int      // L: rows are clipped to L tokens and turns with a prompt >= L skipped (default 8192)
	MaxSamples     int      // keep at most this many rows after fan-out; 0 keeps all
	Seed           uint64   // shuffle seed
	MinValidTokens int      // drop rows with fewer supervised tokens; 0 disables
	RenderEndpoint string   // vLLM base URL; empty renders locally
	TemplateKwargs map[string]any
	Workers        int  // conversations rendered in parallel; <= 0 uses GOMAXPROCS
	Overwrite      bool // rebuild a complete output
	Strict         bool // any unreadable row or failed conversation is fatal
	Log            func(msg string)
	Renderer       Renderer // overrides RenderEndpoint and the model's template and tokenizer
	ShardRows      int      // rows per Parquet file (default 100000)
}

// Summary describes a prepared dataset; it is also the body of metadata.json.
type Summary struct {
	Format         string              `json:"format"`
	Complete       bool                `json:"complete"`
	CreatedBy      string              `json:"created_by"`
	Model          ModelInfo           `json:"model"`
	RenderEndpoint string              `json:"render_endpoint,omitempty"`
	TemplateKwargs map[string]any      `json:"chat_template_kwargs,omitempty"`
	SeqLength      int                 `json:"seq_length"`
	MaxSamples     int                 `json:"max_samples,omitempty"`
	Seed           uint64              `json:"seed"`
	MinValidTokens int                 `json:"minimum_valid_tokens,omitempty"`
	Sources        []SourceInfo        `json:"sources"`
	Counts         Counts              `json:"counts"`
	DropReasons    map[string]int      `json:"drop_reasons"`
	DropExamples   map[string][]string `json:"drop_examples,omitempty"`
	UnknownRoles   map[string]int      `json:"unknown_roles_mapped_to_assistant,omitempty"`
	Warnings       []string            `json:"warnings,omitempty"`
	Shards         []ShardInfo         `json:"shards"`
	TokenFreqFile  string              `json:"token_freq_file"`
	Seconds        float64             `json:"seconds"`
	BuildSeconds   float64             `json:"build_seconds"` // rendering and masking only

	Skipped bool `json:"-"` // the output was already complete
}

// ModelInfo identifies the tokenizer and chat template that made the rows.
type ModelInfo struct {
	Path            string      `json:"path"`
	TokenizerSHA256 string      `json:"tokenizer_sha256"`
	Files           []ModelFile `json:"files"`
	ChatTemplate    string      `json:"chat_template,omitempty"`
}

// ModelFile is a hashed file of the model directory.
type ModelFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SourceInfo is one --data reference and its files.
type SourceInfo struct {
	Ref          string       `json:"ref"`
	Files        []SourceFile `json:"files"`
	RowsRead     int          `json:"rows_read"`
	RowsUsed     int          `json:"rows_used"` // after the 3*max_samples cap
	TrainingRows int          `json:"training_rows"`
}

// Counts are the totals of a run.
type Counts struct {
	RowsRead         int   `json:"rows_read"`         // source rows (conversations or tokenized rows)
	Conversations    int   `json:"conversations"`     // conversations rendered
	Pretokenized     int   `json:"pretokenized_rows"` // rows already in speculators form
	RowsBuilt        int   `json:"rows_built"`        // training rows kept before max_samples
	RowsOut          int   `json:"rows_out"`          // rows written
	Clipped          int   `json:"rows_clipped"`      // kept rows cut at seq_length
	Tokens           int64 `json:"tokens"`            // tokens written
	SupervisedTokens int64 `json:"supervised_tokens"` // tokens with loss_mask 1 written
	DistinctTokens   int   `json:"distinct_supervised_tokens"`
}

// ShardInfo is one Parquet file of the output.
type ShardInfo struct {
	File   string `json:"file"`
	Rows   int    `json:"rows"`
	SHA256 string `json:"sha256"`
}

// OutputRow is the Parquet schema of a prepared row: the columns of
// speculators' prepared dataset.
type OutputRow struct {
	InputIDs []int64 `parquet:"input_ids,list"`
	LossMask []int64 `parquet:"loss_mask,list"`
	SeqLen   int64   `parquet:"seq_len"`
}

const (
	metadataFile  = "metadata.json"
	tokenFreqFile = "token_freq.pt"
	formatName    = "speculators-go/prepared-v1"
)

// fatalReason reports whether a drop reason is an error (fatal with
// Strict), as opposed to ordinary filtering.
func fatalReason(r string) bool {
	switch r {
	case ReasonUnsupervised, ReasonFiltered, ReasonNoAssistantTurn:
		return false
	}
	return true
}

// ReadMetadata reads dir/metadata.json.
func ReadMetadata(dir string) (*Summary, error) {
	data, err := os.ReadFile(filepath.Join(dir, metadataFile))
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", filepath.Join(dir, metadataFile), err)
	}
	return &s, nil
}

// Prepare builds a prepared dataset (see the package doc). Re-running on a
// complete output does nothing unless Overwrite is set.
func Prepare(ctx context.Context, o Options) (*Summary, error) {
	start := time.Now()
	if o.SeqLength <= 0 {
		o.SeqLength = 8192
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ShardRows <= 0 {
		o.ShardRows = 100000
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, args...))
		}
	}
	if o.Output == "" || len(o.Sources) == 0 || o.Model == "" {
		return nil, errors.New("dataset: prepare needs a model, at least one source and an output folder")
	}
	if o.MinValidTokens < 0 || o.MaxSamples < 0 {
		return nil, errors.New("dataset: --minimum-valid-tokens and --max-samples must be >= 0")
	}
	if done, err := checkOutput(o.Output, o.Overwrite); err != nil {
		return nil, err
	} else if done != nil {
		logf("prepare: %s is already complete (%d rows); nothing to do (--overwrite rebuilds it)", o.Output, done.Counts.RowsOut)
		done.Skipped = true
		return done, nil
	}

	sum := &Summary{
		Format: formatName, CreatedBy: "speculators-go", RenderEndpoint: o.RenderEndpoint,
		TemplateKwargs: o.TemplateKwargs, SeqLength: o.SeqLength, MaxSamples: o.MaxSamples,
		Seed: o.Seed, MinValidTokens: o.MinValidTokens, DropReasons: map[string]int{},
		DropExamples: map[string][]string{}, TokenFreqFile: tokenFreqFile,
	}
	var err error
	if sum.Model, err = modelInfo(o.Model); err != nil {
		return nil, err
	}
	var renderer Renderer
	newRenderer := sync.OnceValues(func() (Renderer, error) {
		if o.Renderer != nil {
			return o.Renderer, nil
		}
		if o.RenderEndpoint != "" {
			return &EndpointRenderer{Endpoint: o.RenderEndpoint, Kwargs: o.TemplateKwargs}, nil
		}
		tmpl, err := chat.Load(o.Model)
		if err != nil {
			return nil, err
		}
		tok, err := tokenizer.LoadDir(o.Model)
		if err != nil {
			return nil, err
		}
		return &LocalRenderer{Template: tmpl, Tokenizer: tok, Kwargs: o.TemplateKwargs}, nil
	})

	var mu sync.Mutex
	var strictErr error
	drop := func(reason string, loc Location, detail string) {
		mu.Lock()
		defer mu.Unlock()
		sum.DropReasons[reason]++
		if len(sum.DropExamples[reason]) < 5 {
			sum.DropExamples[reason] = append(sum.DropExamples[reason], fmt.Sprintf("%s: %s", loc, detail))
		}
		if o.Strict && fatalReason(reason) && strictErr == nil {
			strictErr = fmt.Errorf("dataset: %s: %s: %s (--strict)", loc, reason, detail)
		}
	}
	warn := &Warnings{}

	var all []Row
	for _, ref := range o.Sources {
		files, err := Resolve(ref)
		if err != nil {
			return nil, err
		}
		si := SourceInfo{Ref: ref}
		var examples []Example
		for _, f := range files {
			sf, err := ReadFile(f, warn, func(e Example) { examples = append(examples, e) },
				func(p Problem) { drop(p.Reason, p.Loc, p.Detail) })
			if err != nil {
				return nil, err
			}
			si.Files = append(si.Files, sf)
			si.RowsRead += sf.Rows
			if strictErr != nil {
				return nil, strictErr
			}
		}
		logf("prepare: %s: %d rows in %d file(s), %d usable", ref, si.RowsRead, len(files), len(examples))
		// raw.shuffle(seed), then cap at 3*max_samples conversations (§1.5).
		examples = permute(examples, o.Seed)
		if o.MaxSamples > 0 && len(examples) > 3*o.MaxSamples {
			examples = examples[:3*o.MaxSamples]
		}
		si.RowsUsed = len(examples)
		needRender := slices.ContainsFunc(examples, func(e Example) bool { return !e.Tokenized() })
		if needRender && renderer == nil {
			if renderer, err = newRenderer(); err != nil {
				return nil, err
			}
		}
		rows, err := buildRows(ctx, examples, renderer, o, sum, drop, logf, ref)
		if err != nil {
			return nil, err
		}
		if strictErr != nil {
			return nil, strictErr
		}
		si.TrainingRows = len(rows)
		sum.Counts.RowsRead += si.RowsRead
		sum.Sources = append(sum.Sources, si)
		all = append(all, rows...)
	}
	sum.UnknownRoles = warn.UnknownRoles()
	for role, n := range sum.UnknownRoles {
		logf("prepare: warning: role %q mapped to assistant in %d turns", role, n)
	}
	sum.Warnings = warn.Messages()
	sum.Counts.RowsBuilt = len(all)

	// combined.shuffle(seed), then keep max_samples rows (§1.5).
	all = permute(all, o.Seed)
	if o.MaxSamples > 0 && len(all) > o.MaxSamples {
		all = all[:o.MaxSamples]
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("dataset: no training rows remain (drop reasons: %v); check the data format, the chat template and --minimum-valid-tokens", sum.DropReasons)
	}
	freq := map[int]int64{}
	for _, r := range all {
		sum.Counts.Tokens += int64(len(r.InputIDs))
		for i, m := range r.LossMask {
			if m == 1 {
				freq[int(r.InputIDs[i])]++
				sum.Counts.SupervisedTokens++
			}
		}
	}
	sum.Counts.RowsOut = len(all)
	sum.Counts.DistinctTokens = len(freq)

	if err := writeOutput(o, sum, all, freq, logf); err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	sum.Complete = true
	var meta bytes.Buffer
	enc := json.NewEncoder(&meta)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sum); err != nil {
		return nil, fmt.Errorf("dataset: encode metadata: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Output, metadataFile), meta.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return sum, nil
}

// buildRows turns examples into training rows on o.Workers goroutines,
// keeping the examples' order.
func buildRows(ctx context.Context, examples []Example, r Renderer, o Options, sum *Summary,
	drop func(string, Location, string), logf func(string, ...any), ref string) ([]Row, error) {
	results := make([][]Row, len(examples))
	var next, done atomic.Int64
	var convs, pretok, clipped atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(examples) {
					return
				}
				ex := &examples[i]
				var rows []Row
				if ex.Tokenized() {
					pretok.Add(1)
					rows = []Row{{InputIDs: ex.InputIDs, LossMask: ex.LossMask}}
				} else {
					convs.Add(1)
					var err error
					rows, err = BoundaryRows(ctx, r, ex.Messages, ex.Tools, o.SeqLength)
					if err != nil {
						if ctx.Err() != nil {
							return
						}
						reason := ReasonRenderError
						switch {
						case errors.Is(err, ErrBoundaryUnstable):
							reason = ReasonBoundary
						case errors.Is(err, ErrMultimodal):
							reason = ReasonMultimodal
						}
						drop(reason, ex.Loc, err.Error())
						done.Add(1)
						continue
					}
					if len(rows) == 0 {
						drop(ReasonNoAssistantTurn, ex.Loc, "no assistant turn after the first message fits in --seq-length")
					}
				}
				kept := rows[:0]
				for _, row := range rows {
					n := len(row.InputIDs)
					row, reason := ClipRow(row, o.SeqLength, o.MinValidTokens)
					if reason != "" {
						drop(reason, ex.Loc, fmt.Sprintf("row of %d tokens, %d supervised within %d", n, row.Supervised(), o.SeqLength))
						continue
					}
					if n > o.SeqLength {
						clipped.Add(1)
					}
					kept = append(kept, row)
				}
				results[i] = kept
				done.Add(1)
			}
		}()
	}
	tick := time.NewTicker(5 * time.Second)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	t0 := time.Now()
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-tick.C:
			d := done.Load()
			logf("prepare: %s: %d/%d rows processed (%.0f/s)", ref, d, len(examples), float64(d)/time.Since(t0).Seconds())
		}
	}
	tick.Stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum.Counts.Conversations += int(convs.Load())
	sum.Counts.Pretokenized += int(pretok.Load())
	sum.Counts.Clipped += int(clipped.Load())
	var out []Row
	for _, rs := range results {
		out = append(out, rs...)
	}
	sum.BuildSeconds += time.Since(t0).Seconds()
	logf("prepare: %s: %d rows processed in %.1fs, %d training rows", ref, len(examples), time.Since(t0).Seconds(), len(out))
	return out, nil
}

// permute is Hugging Face datasets' shuffle(seed): element i of the result
// is s[permutation[i]] (see shuffle.go).
func permute[T any](s []T, seed uint64) []T {
	out := make([]T, len(s))
	for i, j := range permutation(len(s), seed) {
		out[i] = s[j]
	}
	return out
}

// checkOutput returns the metadata of a complete output (nothing to do), or
// prepares the folder for writing. With overwrite it removes our files and
// refuses to touch a folder holding anything else.
func checkOutput(dir string, overwrite bool) (*Summary, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !overwrite {
		if s, err := ReadMetadata(dir); err == nil && s.Complete {
			return s, nil
		}
	}
	ours := func(name string) bool {
		return name == metadataFile || name == tokenFreqFile ||
			(strings.HasPrefix(name, "data-") && strings.HasSuffix(name, ".parquet")) ||
			strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
	}
	var foreign []string
	for _, e := range ents {
		if !ours(e.Name()) {
			foreign = append(foreign, e.Name())
		}
	}
	if len(foreign) > 0 {
		return nil, fmt.Errorf("dataset: output folder %s holds files prepare did not write (%s); choose an empty or new folder", dir, strings.Join(foreign[:min(5, len(foreign))], ", "))
	}
	// Invalidate first, so an interrupted rebuild never looks complete.
	if err := os.Remove(filepath.Join(dir, metadataFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return nil, nil
}

// writeOutput writes the Parquet shards and token_freq.pt, and removes
// shards of an earlier run that are not part of this one.
func writeOutput(o Options, sum *Summary, rows []Row, freq map[int]int64, logf func(string, ...any)) error {
	n := (len(rows) + o.ShardRows - 1) / o.ShardRows
	keep := map[string]bool{}
	for s := 0; s < n; s++ {
		name := fmt.Sprintf("data-%05d-of-%05d.parquet", s, n)
		keep[name] = true
		part := rows[s*o.ShardRows : min(len(rows), (s+1)*o.ShardRows)]
		h := sha256.New()
		err := atomicfile.Write(filepath.Join(o.Output, name), 0o644, func(w io.Writer) error {
			return WriteParquet(io.MultiWriter(w, h), part)
		})
		if err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
		sum.Shards = append(sum.Shards, ShardInfo{File: name, Rows: len(part), SHA256: hex.EncodeToString(h.Sum(nil))})
		logf("prepare: wrote %s (%d rows)", name, len(part))
	}
	ents, _ := os.ReadDir(o.Output)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "data-") && strings.HasSuffix(e.Name(), ".parquet") && !keep[e.Name()] {
			os.Remove(filepath.Join(o.Output, e.Name()))
		}
	}
	return vocab.WriteTokenFreq(filepath.Join(o.Output, tokenFreqFile), freq)
}

// WriteParquet writes rows as a Parquet file with the columns input_ids
// (list<int64>), loss_mask (list<int64>) and seq_len (int64), Snappy
// compressed, which pyarrow, pandas and Hugging Face datasets read.
func WriteParquet(w io.Writer, rows []Row) error {
	pw := parquet.NewGenericWriter[OutputRow](w, parquet.Compression(&snappy.Codec{}))
	buf := make([]OutputRow, 0, 1024)
	for i, r := range rows {
		buf = append(buf, OutputRow{InputIDs: r.InputIDs, LossMask: r.LossMask, SeqLen: int64(len(r.InputIDs))})
		if len(buf) == cap(buf) || i == len(rows)-1 {
			if _, err := pw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return pw.Close()
}

// ReadParquetRows reads a prepared Parquet file back.
func ReadParquetRows(path string) ([]Row, error) {
	rows, err := parquet.ReadFile[OutputRow](path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	out := make([]Row, len(rows))
	for i, r := range rows {
		if len(r.InputIDs) != len(r.LossMask) || int64(len(r.InputIDs)) != r.SeqLen {
			return nil, fmt.Errorf("dataset: %s: row %d: input_ids %d, loss_mask %d, seq_len %d disagree", path, i, len(r.InputIDs), len(r.LossMask), r.SeqLen)
		}
		out[i] = Row{InputIDs: r.InputIDs, LossMask: r.LossMask}
	}
	return out, nil
}

// modelInfo hashes the files that decide tokenization and rendering.
func modelInfo(dir string) (ModelInfo, error) {
	mi := ModelInfo{Path: dir}
	all := sha256.New()
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json"} {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return mi, fmt.Errorf("dataset: %w", err)
		}
		h := sha256.Sum256(data)
		fmt.Fprintf(all, "%s %x\n", name, h)
		mi.Files = append(mi.Files, ModelFile{Path: name, Size: int64(len(data)), SHA256: hex.EncodeToString(h[:])})
		switch name {
		case "chat_template.jinja":
			mi.ChatTemplate = string(data)
		case "tokenizer_config.json":
			var cfg struct {
				ChatTemplate json.RawMessage `json:"chat_template"`
			}
			if json.Unmarshal(data, &cfg) == nil && mi.ChatTemplate == "" && cfg.ChatTemplate != nil {
				var s string
				if json.Unmarshal(cfg.ChatTemplate, &s) == nil {
					mi.ChatTemplate = s
				} else {
					mi.ChatTemplate = string(cfg.ChatTemplate)
				}
			}
		}
	}
	if len(mi.Files) == 0 {
		return mi, fmt.Errorf("dataset: %s has no tokenizer.json, tokenizer_config.json or chat template", dir)
	}
	mi.TokenizerSHA256 = hex.EncodeToString(all.Sum(nil))
	return mi, nil
}
