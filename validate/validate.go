package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

// Severity of a finding.
type Severity int

const (
	// Error: vLLM or the Python library would reject or misread the
	// checkpoint, or it breaks a rule of format-spec §7.
	Error Severity = iota
	// Warning: legal but suspicious.
	Warning
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// MarshalText writes "error" or "warning" in JSON reports.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one problem. Key names the config key (dotted path), the
// tensor, or the file it concerns.
type Finding struct {
	Severity Severity `json:"severity"`
	Key      string   `json:"key"`
	Msg      string   `json:"message"`
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Severity, f.Key, f.Msg) }

// Report is the result of validating one directory.
type Report struct {
	Dir      string    `json:"dir"`
	Findings []Finding `json:"findings"`
}

// OK reports whether there is no Error finding.
func (r *Report) OK() bool {
	for _, f := range r.Findings {
		if f.Severity == Error {
			return false
		}
	}
	return true
}

// Count returns the number of errors and warnings.
func (r *Report) Count() (errs, warns int) {
	for _, f := range r.Findings {
		if f.Severity == Error {
			errs++
		} else {
			warns++
		}
	}
	return
}

func (r *Report) add(s Severity, key, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{s, key, fmt.Sprintf(format, args...)})
}

// Dir validates the checkpoint in dir. The error is only for I/O failures
// (dir missing or unreadable); contract violations are findings.
func Dir(dir string) (*Report, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("validate: %s is not a directory", dir)
	}
	r := &Report{Dir: dir, Findings: []Finding{}}
	c := r.checkConfigFile(filepath.Join(dir, "config.json"))
	ck := r.openWeights(dir)
	if ck == nil {
		return r, nil
	}
	defer ck.Close()
	r.checkHeaders(ck)
	r.checkTensors(ck, c)
	return r, nil
}

// checkConfigFile reads and checks config.json; nil when it cannot be used.
func (r *Report) checkConfigFile(path string) *config.Speculator {
	data, err := readBounded(path, config.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		r.add(Error, "config.json", "missing")
		return nil
	}
	if err != nil {
		r.add(Error, "config.json", "%v", err)
		return nil
	}
	c, err := config.Parse(data, "config.json")
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				key := p.Key
				if key == "" {
					key = "config.json"
				}
				r.add(Error, key, "%s", p.Msg)
			}
		} else {
			r.add(Error, "config.json", "%v", err)
		}
		return nil
	}
	// §7.1: the exact bytes of Python's json.dumps(indent=2, sort_keys=True).
	if want, err := c.Marshal(); err != nil {
		r.add(Error, "config.json", "cannot be rewritten canonically: %v", err)
	} else if !bytes.Equal(want, data) {
		r.add(Error, "config.json", "not in the canonical form Python writes (json.dumps(indent=2, sort_keys=True) + newline, Python float repr): %s; `speculators resave` rewrites it", firstDiff(data, want))
	}
	r.checkConfig(c)
	return c
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%d bytes, more than the %d allowed", st.Size(), max)
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), err
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %q, want %q", i+1, truncate(gl, 80), truncate(wl, 80))
		}
	}
	return "differs"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// openWeights opens the safetensors checkpoint; nil when there is none.
func (r *Report) openWeights(dir string) *safetensors.Checkpoint {
	ck, err := safetensors.OpenDir(dir)
	if err == nil {
		return ck
	}
	key := "model.safetensors"
	if _, e := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); e == nil {
		key = "model.safetensors.index.json"
	}
	_, e1 := os.Stat(filepath.Join(dir, "model.safetensors"))
	_, e2 := os.Stat(filepath.Join(dir, "model.safetensors.index.json"))
	if errors.Is(e1, fs.ErrNotExist) && errors.Is(e2, fs.ErrNotExist) {
		if _, e := os.Stat(filepath.Join(dir, "pytorch_model.bin")); e == nil {
			r.add(Error, "model.safetensors", "missing: the directory has only pytorch_model.bin; speculators checkpoints store weights as safetensors (`speculators convert` reads .bin research checkpoints)")
		} else {
			r.add(Error, "model.safetensors", "missing (no model.safetensors and no model.safetensors.index.json)")
		}
		return nil
	}
	r.add(Error, key, "%v", err)
	return nil
}
