package dataset

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

const (
	maxLine     = 256 << 20 // one JSON Lines row
	maxJSONFile = 8 << 30   // a whole .json file is read into memory
)

// SourceFile is one input file as recorded in metadata.json.
type SourceFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows"`
}

// Resolve expands a --data reference into the files to read, in order:
// a .json/.jsonl/.parquet/.arrow file; a directory, searched recursively
// (sorted; Hugging Face side files such as dataset_info.json are skipped, so a
// save_to_disk folder works);
// or name[:split], looked up in the local Hugging Face caches (see
// ResolveHFCache).
func Resolve(ref string) ([]string, error) {
	fi, err := os.Stat(ref)
	switch {
	case err == nil && fi.IsDir():
		var files []string
		err := filepath.WalkDir(ref, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isDataFile(p) && !isHFSideFile(d.Name()) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("dataset: no .json, .jsonl, .parquet or .arrow files under %s", ref)
		}
		slices.Sort(files)
		return files, nil
	case err == nil:
		if !isDataFile(ref) {
			return nil, fmt.Errorf("dataset: %s: unsupported file type (want .json, .jsonl, .parquet or .arrow)", ref)
		}
		return []string{ref}, nil
	case !looksLikeHFName(ref):
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return ResolveHFCache(ref)
}

// looksLikeHFName tells a dataset name ("org/name[:split]", "hf:...") from a
// missing local path.
func looksLikeHFName(ref string) bool {
	if strings.HasPrefix(ref, "hf:") {
		return true
	}
	name, _, _ := strings.Cut(ref, ":")
	return !isDataFile(ref) && !filepath.IsAbs(ref) && !strings.HasPrefix(ref, ".") &&
		strings.Count(name, "/") <= 1 && !strings.ContainsRune(name, '\\')
}

// isHFSideFile names the metadata and map-cache files that Hugging Face
// datasets keeps next to its Arrow data.
func isHFSideFile(name string) bool {
	return name == "dataset_info.json" || name == "state.json" ||
		(strings.HasPrefix(name, "cache-") && strings.HasSuffix(name, ".arrow"))
}

func isDataFile(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".json", ".jsonl", ".parquet", ".arrow":
		return true
	}
	return false
}

// ReadFile reads one source file, calling yield for each usable row and bad
// for each unusable one. It returns the file's size, hash and row count; an
// error means the file itself could not be read.
func ReadFile(path string, w *Warnings, yield func(Example), bad func(Problem)) (SourceFile, error) {
	sf := SourceFile{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return sf, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sf, fmt.Errorf("dataset: %w", err)
	}
	sf.Size = fi.Size()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sf, fmt.Errorf("dataset: read %s: %w", path, err)
	}
	sf.SHA256 = hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sf, fmt.Errorf("dataset: %w", err)
	}
	handle := func(raw []byte, loc Location) {
		sf.Rows++
		if !utf8.Valid(raw) {
			bad(Problem{Loc: loc, Reason: ReasonInvalidUTF8, Detail: fmt.Sprintf("invalid UTF-8 at byte %d of the row", invalidUTF8At(raw))})
			return
		}
		ex, p := parseRow(raw, loc, w)
		if p != nil {
			bad(*p)
			return
		}
		yield(ex)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl":
		err = readJSONL(f, path, handle)
	case ".json":
		err = readJSON(f, sf.Size, path, handle, bad)
	case ".parquet":
		err = readParquet(f, sf.Size, path, handle, bad)
	case ".arrow":
		err = readArrow(f, path, handle, bad)
	default:
		err = fmt.Errorf("unsupported file type")
	}
	if err != nil {
		return sf, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return sf, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

func readJSONL(r io.Reader, path string, handle func([]byte, Location)) error {
	br := bufio.NewReaderSize(r, 1<<20)
	row := 0
	for line := 1; ; line++ {
		b, err := readLine(br)
		if len(bytes.TrimSpace(b)) > 0 {
			handle(b, Location{File: path, Line: line, Row: row})
			row++
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
}

// readLine returns one line without its newline, refusing lines over maxLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(out)+len(chunk) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			out = out[:len(out)-1]
		}
		return out, err
	}
}

// readJSON reads a .json file: a top-level array of rows, or a sequence of
// objects (JSON Lines written with a .json name, which HF's json loader also
// accepts).
func readJSON(r io.Reader, size int64, path string, handle func([]byte, Location), bad func(Problem)) error {
	if size > maxJSONFile {
		return fmt.Errorf("%d bytes is too large for a .json file; use .jsonl", size)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	lineAt := func(off int64) int { return bytes.Count(data[:min(int(off), len(data))], []byte("\n")) + 1 }
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] != '[' {
		return readJSONL(bytes.NewReader(data), path, handle)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return err
	}
	// rowStart skips the separator so a location points at the row itself.
	rowStart := func(off int64) int64 {
		pos := int(off)
		for pos < len(data) && (data[pos] == ',' || data[pos] == ' ' || data[pos] == '\n' || data[pos] == '\r' || data[pos] == '\t') {
			pos++
		}
		return int64(pos)
	}
	for row := 0; dec.More(); row++ {
		start := rowStart(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			bad(Problem{Loc: Location{File: path, Line: lineAt(start), Row: row}, Reason: ReasonInvalidJSON,
				Detail: fmt.Sprintf("%v; the rest of the file cannot be read", err)})
			return nil
		}
		handle(raw, Location{File: path, Line: lineAt(start), Row: row})
	}
	if _, err := dec.Token(); err != nil {
		bad(Problem{Loc: Location{File: path, Line: lineAt(dec.InputOffset())}, Reason: ReasonInvalidJSON, Detail: err.Error()})
	}
	return nil
}

// readParquet reads every row of a Parquet file as a generic value and
// hands it on as JSON, so the row formats are detected the same way.
func readParquet(r io.ReaderAt, size int64, path string, handle func([]byte, Location), bad func(Problem)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt Parquet file: %v", p)
		}
	}()
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return err
	}
	pr := parquet.NewReader(f)
	defer pr.Close()
	for row := 0; ; row++ {
		m := map[string]any{}
		if err := pr.Read(&m); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("row %d: %w", row, err)
		}
		loc := Location{File: path, Row: row}
		if !validStrings(m) {
			bad(Problem{Loc: loc, Reason: ReasonInvalidUTF8, Detail: "a string column holds invalid UTF-8"})
			continue
		}
		raw, err := json.Marshal(m)
		if err != nil {
			bad(Problem{Loc: loc, Reason: ReasonBadField, Detail: err.Error()})
			continue
		}
		handle(raw, loc)
	}
}

func validStrings(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !validStrings(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !validStrings(e) {
				return false
			}
		}
	}
	return true
}

// readArrow reads an Arrow IPC stream (Hugging Face datasets' cache and
// save_to_disk files) row by row.
func readArrow(r io.Reader, path string, handle func([]byte, Location), bad func(Problem)) error {
	row := 0
	return readArrowStream(bufio.NewReaderSize(r, 1<<20), func(m map[string]any) error {
		loc := Location{File: path, Row: row}
		row++
		if !validUTF8Value(m) {
			bad(Problem{Loc: loc, Reason: ReasonInvalidUTF8, Detail: "a string column holds invalid UTF-8"})
			return nil
		}
		raw, err := json.Marshal(m)
		if err != nil {
			bad(Problem{Loc: loc, Reason: ReasonBadField, Detail: err.Error()})
			return nil
		}
		handle(raw, loc)
		return nil
	})
}
