package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/validate"
)

// Versions written into config.json. They name the Python releases whose
// output ours reproduces (format-spec §9: one transformers version is chosen,
// 4.57.x, matching the published example in §3.1).
const (
	SpeculatorsVersion  = "0.8.0.dev0"
	TransformersVersion = "4.57.6"
)

// DefaultMaxShardSize is transformers 4.x's max_shard_size ("5GB").
const DefaultMaxShardSize = 5_000_000_000

// Algorithms lists what Convert accepts.
var Algorithms = []string{"eagle3", "eagle", "dflash", "mtp"}

// kwargs each algorithm accepts in --algorithm-kwargs (format-spec §8).
var allowedKwargs = map[string][]string{
	"eagle3": {"norm_before_residual", "norm_before_fc", "fc_norm", "norm_output", "eagle_aux_hidden_state_layer_ids", "cache_dir"},
	"eagle":  {"fusion_bias", "layernorms", "cache_dir"},
	"dflash": {"aux_hidden_state_layer_ids", "cache_dir"},
	"mtp":    {"num_speculative_steps", "cache_dir"},
}

// Options configures Convert.
type Options struct {
	Algorithm string
	// Source and Verifier are local directories or hub ids in the local
	// Hugging Face cache. Verifier is written as verifier.name_or_path as
	// given.
	Source, Verifier string
	OutputPath       string
	// Kwargs are the --algorithm-kwargs (JSON decoded with UseNumber).
	Kwargs map[string]any
	// DType casts every float tensor ("bfloat16", "float16", "float32" or a
	// safetensors spelling); empty keeps the algorithm's default (§5).
	DType string
	// NoValidate skips validate.Dir on the output.
	NoValidate   bool
	MaxShardSize int64 // 0 means DefaultMaxShardSize
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Result summarizes a conversion.
type Result struct {
	Dir     string
	Tensors int
	Bytes   int64
	DType   safetensors.DType
	// Dropped lists source tensors deliberately not carried over, with why.
	Dropped map[string]string
	// Report is the validation of the output (nil with NoValidate, or for
	// the historical eagle format, which validate does not know).
	Report *validate.Report
}

// job carries one conversion.
type job struct {
	opts           Options
	srcDir, verDir string
	src            *Source
	srcCfg, verCfg map[string]any
	outs           []Output
	dropped        map[string]string
	ignored        func(name string) bool // source tensors outside this converter's scope (mtp: the verifier body)
	cfg            map[string]any         // config.json as Python builds it
	dtype          safetensors.DType      // float dtype of the output
	origin         func(string) string
	extraSchema    func(schema)
	parsed         *config.Speculator
	closers        []func() error
}

func (j *job) logf(format string, args ...any) {
	if j.opts.Log != nil {
		j.opts.Log(format, args...)
	}
}

func (j *job) drop(name, why string) {
	j.dropped[name] = why
	j.logf("dropping %s: %s", name, why)
}

// Convert converts a research checkpoint to the speculators format
// (format-spec §5) and validates the result.
func Convert(opts Options) (*Result, error) {
	j := &job{opts: opts, dropped: map[string]string{}}
	defer func() {
		for _, c := range j.closers {
			c()
		}
	}()
	allowed, ok := allowedKwargs[opts.Algorithm]
	if !ok {
		return nil, fmt.Errorf("convert: unsupported algorithm %q (want one of %s)", opts.Algorithm, strings.Join(Algorithms, ", "))
	}
	for k := range opts.Kwargs {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("convert: --algorithm-kwargs: %q is not a %s option (allowed: %s)", k, opts.Algorithm, strings.Join(allowed, ", "))
		}
	}
	if opts.OutputPath == "" {
		return nil, errors.New("convert: no output path")
	}
	cache := ""
	if v, ok := opts.Kwargs["cache_dir"]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("convert: --algorithm-kwargs: cache_dir must be a string")
		}
		cache = s
	}
	var err error
	if j.srcDir, err = ResolveIn(opts.Source, cache); err != nil {
		return nil, fmt.Errorf("convert: source %w", err)
	}
	if j.verDir, err = ResolveIn(opts.Verifier, cache); err != nil {
		return nil, fmt.Errorf("convert: verifier %w", err)
	}
	if err := checkOutputDir(opts.OutputPath, j.srcDir, j.verDir); err != nil {
		return nil, err
	}
	if j.srcCfg, err = readJSON(filepath.Join(j.srcDir, "config.json")); err != nil {
		return nil, fmt.Errorf("convert: source config: %w", err)
	}
	if j.verCfg, err = readJSON(filepath.Join(j.verDir, "config.json")); err != nil {
		return nil, fmt.Errorf("convert: verifier config: %w", err)
	}
	if j.src, err = OpenSource(j.srcDir); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	j.closers = append(j.closers, j.src.Close)
	j.logf("source %s: %d tensors (%s)", j.srcDir, len(j.src.Names()), j.src.Format)

	switch opts.Algorithm {
	case "eagle3":
		err = j.eagle3()
	case "eagle":
		err = j.eagle()
	case "dflash":
		err = j.dflash()
	case "mtp":
		err = j.mtp()
	}
	if err != nil {
		return nil, fmt.Errorf("convert %s: %s: %w", opts.Algorithm, j.srcDir, err)
	}
	if err := j.accountForSources(); err != nil {
		return nil, fmt.Errorf("convert %s: %s: %w", opts.Algorithm, j.srcDir, err)
	}
	if err := j.chooseDType(); err != nil {
		return nil, fmt.Errorf("convert %s: %w", opts.Algorithm, err)
	}
	cfgBytes, err := j.finishConfig()
	if err != nil {
		return nil, fmt.Errorf("convert %s: config: %w", opts.Algorithm, err)
	}
	if err := j.checkSchema(); err != nil {
		return nil, fmt.Errorf("convert %s: %s: %w", opts.Algorithm, j.srcDir, err)
	}
	res, err := j.write(cfgBytes)
	if err != nil {
		return nil, fmt.Errorf("convert %s: write %s: %w", opts.Algorithm, opts.OutputPath, err)
	}
	if !opts.NoValidate && opts.Algorithm != "eagle" {
		rep, err := validate.Dir(opts.OutputPath)
		if err != nil {
			return res, fmt.Errorf("convert: validate %s: %w", opts.OutputPath, err)
		}
		res.Report = rep
	}
	return res, nil
}

// checkOutputDir refuses to write into an input directory: the writer
// replaces model.safetensors and removes stale shards there.
func checkOutputDir(out string, inputs ...string) error {
	o, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("convert: output path %s: %w", out, err)
	}
	if r, err := filepath.EvalSymlinks(o); err == nil {
		o = r
	}
	for _, in := range inputs {
		i, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		if r, err := filepath.EvalSymlinks(i); err == nil {
			i = r
		}
		if i == o {
			return fmt.Errorf("convert: output path %s is the input directory %s; choose another --output-path", out, in)
		}
	}
	return nil
}

// accountForSources makes sure every source tensor was mapped or dropped
// with a reason: nothing is silently lost.
func (j *job) accountForSources() error {
	used := map[string]bool{}
	for _, o := range j.outs {
		for _, p := range o.Pieces {
			used[p.T.Name] = true
		}
	}
	var lost []string
	for _, n := range j.src.Names() {
		if used[n] || j.dropped[n] != "" || (j.ignored != nil && j.ignored(n)) {
			continue
		}
		lost = append(lost, n)
	}
	if len(lost) > 0 {
		return fmt.Errorf("unmapped source tensor(s) %s: the %s converter does not know where they go", strings.Join(lost, ", "), j.opts.Algorithm)
	}
	return nil
}

// chooseDType picks the float dtype of the output: --dtype, else the one
// the algorithm's Python converter casts to (set by the converter in
// j.dtype), else the dtype holding most float bytes.
func (j *job) chooseDType() error {
	if j.opts.DType != "" {
		d, err := safetensors.ParseDType(j.opts.DType)
		if err != nil || !d.IsFloat() {
			return fmt.Errorf("--dtype %q: want float32, float16, bfloat16 or float64", j.opts.DType)
		}
		j.dtype = d
	}
	if j.dtype == "" {
		bytes := map[safetensors.DType]int64{}
		for _, o := range j.outs {
			if o.DType.IsFloat() {
				bytes[o.DType] += o.numBytes()
			}
		}
		var best int64 = -1
		for _, d := range []safetensors.DType{safetensors.BF16, safetensors.F16, safetensors.F32, safetensors.F64} {
			if bytes[d] > best {
				best, j.dtype = bytes[d], d
			}
		}
	}
	for _, o := range j.outs {
		if !o.DType.IsFloat() && !o.DType.IsInt() {
			return fmt.Errorf("tensor %s has dtype %s, which a draft cannot hold", o.Name, o.DType)
		}
	}
	return nil
}

// finishConfig sets the dtype and versions, renders config.json with the
// Python writer and parses it back (which checks it against the config
// package's schema).
func (j *job) finishConfig() ([]byte, error) {
	c := j.cfg
	c["dtype"] = j.dtype.TorchName()
	c["speculators_version"] = SpeculatorsVersion
	c["transformers_version"] = TransformersVersion
	if tl, ok := c["transformer_layer_config"].(map[string]any); ok && j.opts.Algorithm != "mtp" {
		tl["dtype"] = j.dtype.TorchName()
		delete(tl, "torch_dtype")
	}
	b, err := config.MarshalPython(c)
	if err != nil {
		return nil, err
	}
	if j.opts.Algorithm == "eagle" {
		return b, nil
	}
	if j.parsed, err = config.Parse(b, "config.json"); err != nil {
		return nil, err
	}
	return b, nil
}

// checkSchema checks the outputs against the tensors the config implies
// (validate.Layout), so a missing or unknown tensor fails before anything is
// written.
func (j *job) checkSchema() error {
	s := schema{}
	if j.parsed != nil {
		for _, ts := range validate.Layout(j.parsed) {
			s[ts.Name] = spec{ts.Shape, ts.Required}
		}
		if j.parsed.SpeculatorsModelType == "mtp" {
			for _, o := range j.outs {
				if _, ok := s[o.Name]; !ok && validate.Allowed(j.parsed, o.Name) {
					s.may(o.Name)
				}
			}
		}
	}
	if j.extraSchema != nil {
		j.extraSchema(s)
	}
	return s.check(j.outs, j.origin)
}

func (j *job) write(cfgBytes []byte) (*Result, error) {
	out := j.opts.OutputPath
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	max := j.opts.MaxShardSize
	if max == 0 {
		max = DefaultMaxShardSize
	}
	ts := tensors(j.outs, j.dtype)
	var total int64
	for i := range ts {
		total += ts[i].NumBytes()
	}
	j.logf("writing %d tensors (%s, %.1f MB) to %s", len(ts), j.dtype, float64(total)/1e6, out)
	last := time.Now()
	start := last
	err := safetensors.WriteDirOptions(out, ts, safetensors.DirOptions{
		Metadata:     map[string]string{"format": "pt"},
		MaxShardSize: max,
		Progress: func(file, name string, done, total int64) {
			if now := time.Now(); now.Sub(last) > 2*time.Second {
				last = now
				j.logf("  %s: %.0f%% (%.1f/%.1f MB, %.0f MB/s)", file, 100*float64(done)/float64(max64(total, 1)), float64(done)/1e6, float64(total)/1e6, float64(done)/1e6/now.Sub(start).Seconds())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if err := safetensors.WriteAtomic(filepath.Join(out, "config.json"), cfgBytes); err != nil {
		return nil, err
	}
	return &Result{Dir: out, Tensors: len(ts), Bytes: total, DType: j.dtype, Dropped: j.dropped}, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// --- reading config values ---

func getInt(m map[string]any, key string) (int64, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, true, fmt.Errorf("%s is %v, want an integer", key, v)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, true, fmt.Errorf("%s is %s, want an integer", key, n)
	}
	return i, true, nil
}

func intOr(m map[string]any, key string, def int64) (int64, error) {
	v, ok, err := getInt(m, key)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}

func boolOf(m map[string]any, key string) (bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s is %v, want true or false", key, v)
	}
	return b, nil
}

func intList(m map[string]any, key string) ([]int64, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, true, fmt.Errorf("%s is %v, want a list of integers", key, v)
	}
	out := make([]int64, len(l))
	for i, x := range l {
		n, ok := x.(json.Number)
		if !ok {
			return nil, true, fmt.Errorf("%s[%d] is %v, want an integer", key, i, x)
		}
		v, err := n.Int64()
		if err != nil {
			return nil, true, fmt.Errorf("%s[%d] is %s, want an integer", key, i, n)
		}
		out[i] = v
	}
	return out, true, nil
}

// findKey returns the first value of key found in m, searching nested
// objects depth-first in sorted key order (the Python converters' recursive
// vocab_size lookup).
func findKey(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := m[k].(map[string]any); ok {
			if v, ok := findKey(sub, key); ok {
				return v, true
			}
		}
	}
	return nil, false
}

func verifierArchitectures(v map[string]any, def []any) []any {
	if a, ok := v["architectures"].([]any); ok {
		return a
	}
	return def
}

func speculatorsConfig(algorithm string, tokens int64, verifier string, arch []any) map[string]any {
	return map[string]any{
		"algorithm":               algorithm,
		"default_proposal_method": "greedy",
		"proposal_methods": []any{map[string]any{
			"accept_tolerance":   0.0,
			"proposal_type":      "greedy",
			"speculative_tokens": tokens,
			"verifier_accept_k":  1,
		}},
		"verifier": map[string]any{"architectures": arch, "name_or_path": verifier},
	}
}

// sortedNames returns the keys of a tensor map in byte order.
func sortedNames[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
