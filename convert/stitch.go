package convert

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/safetensors"
)

// StitchOptions configures Stitch.
type StitchOptions struct {
	// Finetuned is a speculators mtp checkpoint; Verifier the model whose
	// mtp.* weights it replaces (local directories or cached hub ids).
	Finetuned, Verifier string
	// OutputPath defaults to "<verifier name>-stitched".
	OutputPath string
	Log        func(format string, args ...any)
}

// StitchResult summarizes a stitch.
type StitchResult struct {
	Dir       string
	Replaced  int      // verifier tensors replaced
	Rewritten []string // shard files rewritten
	Copied    int      // files copied unchanged
}

// stitchSkipped are finetuned tensors that belong to the verifier, not the
// MTP head (§5.4 step 1).
var stitchSkipped = []string{"embed_tokens.weight", "lm_head.weight", "verifier_lm_head.weight", "verifier_norm.weight"}

// Stitch merges a finetuned MTP head back into a copy of its verifier
// (format-spec §5.4): experts are unfused, names mapped back to mtp.*,
// the verifier directory copied, and only the shards holding replaced
// tensors rewritten, with their original metadata; the index stays valid
// because every replaced tensor keeps its shape and dtype.
func Stitch(opts StitchOptions) (*StitchResult, error) {
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			opts.Log(format, args...)
		}
	}
	ftDir, err := Resolve(opts.Finetuned)
	if err != nil {
		return nil, fmt.Errorf("stitch-mtp: finetuned %w", err)
	}
	verDir, err := Resolve(opts.Verifier)
	if err != nil {
		return nil, fmt.Errorf("stitch-mtp: verifier %w", err)
	}
	out := opts.OutputPath
	if out == "" {
		out = filepath.Base(filepath.Clean(opts.Verifier)) + "-stitched"
	}
	if err := checkOutputDir(out, ftDir, verDir); err != nil {
		return nil, fmt.Errorf("stitch-mtp: %w", err)
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("stitch-mtp: output %s exists and is not empty", out)
	}
	ft, err := OpenSource(ftDir)
	if err != nil {
		return nil, fmt.Errorf("stitch-mtp: %w", err)
	}
	defer ft.Close()
	repl, err := unstitchNames(ft, logf)
	if err != nil {
		return nil, fmt.Errorf("stitch-mtp: %s: %w", ftDir, err)
	}
	ver, err := OpenSource(verDir)
	if err != nil {
		return nil, fmt.Errorf("stitch-mtp: verifier: %w", err)
	}
	defer ver.Close()
	if !strings.HasPrefix(ver.Format, "safetensors") {
		return nil, fmt.Errorf("stitch-mtp: verifier %s is %s; only safetensors verifiers can be stitched", verDir, ver.Format)
	}
	// Check every replacement against the verifier before writing anything.
	byFile := map[string][]string{}
	for _, name := range sortedNames(repl) {
		o := repl[name]
		vt, ok := ver.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("stitch-mtp: %s (from finetuned %s) is not in the verifier's index", name, strings.Join(o.Sources(), "+"))
		}
		if !slices.Equal(vt.Shape, o.Shape) {
			return nil, fmt.Errorf("stitch-mtp: %s: finetuned shape %v, verifier %v", name, o.Shape, vt.Shape)
		}
		if vt.DType != o.DType && !(vt.DType.IsFloat() && o.DType.IsFloat()) {
			return nil, fmt.Errorf("stitch-mtp: %s: finetuned dtype %s cannot replace verifier %s", name, o.DType, vt.DType)
		}
		if filepath.Dir(filepath.Clean(vt.File)) != filepath.Clean(verDir) {
			return nil, fmt.Errorf("stitch-mtp: %s lives in %s, outside the verifier directory", name, vt.File)
		}
		byFile[filepath.Base(vt.File)] = append(byFile[filepath.Base(vt.File)], name)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("stitch-mtp: %w", err)
	}
	res := &StitchResult{Dir: out, Replaced: len(repl)}
	// Copy everything except the shards to rewrite.
	err = filepath.WalkDir(verDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(verDir, p)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(out, rel), 0o755)
		}
		if _, rewrite := byFile[rel]; rewrite {
			return nil
		}
		res.Copied++
		return copyFile(p, filepath.Join(out, rel))
	})
	if err != nil {
		return nil, fmt.Errorf("stitch-mtp: copy %s: %w", verDir, err)
	}
	for _, file := range sortedNames(byFile) {
		if err := rewriteShard(filepath.Join(verDir, file), filepath.Join(out, file), ver, repl); err != nil {
			return nil, fmt.Errorf("stitch-mtp: rewrite %s: %w", file, err)
		}
		logf("rewrote %s (%d tensors replaced)", file, len(byFile[file]))
		res.Rewritten = append(res.Rewritten, file)
	}
	return res, nil
}

// unstitchNames maps a finetuned mtp checkpoint back to the verifier's
// names: drop the shared tensors, unfuse experts, invert MTPRules.
func unstitchNames(ft *Source, logf func(string, ...any)) (map[string]*Output, error) {
	inv := Invert(MTPRules)
	out := map[string]*Output{}
	add := func(o Output) error {
		to, ok := Apply(inv, o.Name)
		if !ok {
			return fmt.Errorf("tensor %s is not part of an MTP head (no mtp_layers.0. name)", o.Name)
		}
		if _, dup := out[to]; dup {
			return fmt.Errorf("%s produced twice", to)
		}
		o.Name = to
		out[to] = &o
		return nil
	}
	for _, n := range ft.Names() {
		t, _ := ft.Tensor(n)
		if slices.Contains(stitchSkipped, n) {
			logf("skipping %s: shared with the verifier", n)
			continue
		}
		es := int64(t.DType.Size())
		switch {
		case strings.HasSuffix(n, ".experts.gate_up_proj"):
			if len(t.Shape) != 3 || t.Shape[1]%2 != 0 {
				return nil, fmt.Errorf("%s has shape %v, want [E, 2*I, H]", n, t.Shape)
			}
			prefix := strings.TrimSuffix(n, ".gate_up_proj")
			E, I, H := t.Shape[0], t.Shape[1]/2, t.Shape[2]
			for e := int64(0); e < E; e++ {
				base := e * 2 * I * H * es
				p := prefix + "." + strconv.FormatInt(e, 10)
				if err := add(Output{Name: p + ".gate_proj.weight", DType: t.DType, Shape: []int64{I, H}, Pieces: []Piece{{t, base, I * H * es}}}); err != nil {
					return nil, err
				}
				if err := add(Output{Name: p + ".up_proj.weight", DType: t.DType, Shape: []int64{I, H}, Pieces: []Piece{{t, base + I*H*es, I * H * es}}}); err != nil {
					return nil, err
				}
			}
		case strings.HasSuffix(n, ".experts.down_proj"):
			if len(t.Shape) != 3 {
				return nil, fmt.Errorf("%s has shape %v, want [E, H, I]", n, t.Shape)
			}
			prefix := strings.TrimSuffix(n, ".down_proj")
			E, H, I := t.Shape[0], t.Shape[1], t.Shape[2]
			for e := int64(0); e < E; e++ {
				if err := add(Output{Name: prefix + "." + strconv.FormatInt(e, 10) + ".down_proj.weight", DType: t.DType, Shape: []int64{H, I}, Pieces: []Piece{{t, e * H * I * es, H * I * es}}}); err != nil {
					return nil, err
				}
			}
		default:
			if err := add(whole(n, t)); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no MTP tensors to stitch")
	}
	return out, nil
}

// rewriteShard writes dst with the tensors of the verifier shard src, the
// replaced ones taken from repl (cast to the shard's dtype), keeping src's
// metadata and key order.
func rewriteShard(src, dst string, ver *Source, repl map[string]*Output) error {
	f, err := safetensors.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, info := range f.Tensors() {
		vt, _ := ver.Tensor(info.Name)
		o := repl[info.Name]
		if o == nil {
			w := whole(info.Name, vt)
			o = &w
		}
		dst := info.DType
		ts = append(ts, safetensors.Tensor{Name: info.Name, DType: dst, Shape: info.Shape, Write: func(w io.Writer) error {
			return writePieces(w, o, dst)
		}})
	}
	return safetensors.WriteFileOptions(dst, ts, safetensors.FileOptions{Metadata: f.Metadata(), MetadataKeys: f.MetadataKeys()})
}

// copyFile copies src (following symlinks, as hub snapshots are links into
// blobs/) to dst atomically.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	ok = true
	return os.Rename(tmp.Name(), dst)
}
