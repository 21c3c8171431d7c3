package safetensors

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ResaveOptions controls Resave.
type ResaveOptions struct {
	// DType, when set, casts every F16/BF16/F32/F64 tensor to it; integer,
	// bool and F8 tensors keep their dtype.
	DType DType
	// MaxShardSize > 0 re-splits the tensors as save_pretrained would
	// (source order: shard by shard, data order within a shard). 0 keeps
	// the source layout: one file stays one file, shards keep their
	// tensors, so a checkpoint written by Python comes out byte-identical.
	MaxShardSize int64
	// Log receives progress lines and the summary (nil: silent).
	Log io.Writer
	// ProgressEvery is the minimum time between progress lines (0: 2s).
	ProgressEvery time.Duration
}

// ResaveSummary reports what Resave did.
type ResaveSummary struct {
	Tensors     int
	Bytes       int64 // tensor data written
	WeightFiles []string
	Copied      []string // other files copied unchanged
	Cast        int      // tensors whose dtype changed
}

var dtypeLineRe = regexp.MustCompile(`(?m)^  "(torch_dtype|dtype)": "[A-Za-z0-9_.]+"`)

// Resave reads the checkpoint in src and writes it canonically into dst:
// the weights through the Python-identical writer, every other top-level
// file (config.json, generation_config.json, tokenizer files, ...) copied
// unchanged. With a cast, the top-level "dtype"/"torch_dtype" of
// config.json is updated in place, as the speculators checkpointer does.
func Resave(src, dst string, opt ResaveOptions) (*ResaveSummary, error) {
	if opt.DType != "" && !opt.DType.IsFloat() {
		return nil, fmt.Errorf("safetensors: resave: cannot cast to %s (want F32, F16, BF16 or F64)", opt.DType)
	}
	sa, err1 := filepath.Abs(src)
	da, err2 := filepath.Abs(dst)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("safetensors: resave: %v %v", err1, err2)
	}
	if sa == da {
		return nil, fmt.Errorf("safetensors: resave: source and output are the same directory %s", src)
	}
	c, err := OpenDir(src)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	var tensors []Tensor
	var shards [][]int
	var shardMeta []FileOptions
	weightFiles := map[string]bool{}
	sum := &ResaveSummary{}
	for _, f := range c.Files() {
		weightFiles[filepath.Base(f.Path())] = true
		var shard []int
		for _, ti := range f.Tensors() {
			data, err := f.Bytes(ti.Name)
			if err != nil {
				return nil, err
			}
			t := Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: data}
			if opt.DType != "" && ti.DType.IsFloat() && ti.DType != opt.DType {
				t = castTensor(ti, data, opt.DType)
				sum.Cast++
			}
			shard = append(shard, len(tensors))
			tensors = append(tensors, t)
		}
		shards = append(shards, shard)
		shardMeta = append(shardMeta, FileOptions{Metadata: f.Metadata(), MetadataKeys: f.MetadataKeys()})
	}
	dopt := DirOptions{Metadata: c.files[0].Metadata(), MetadataKeys: c.files[0].MetadataKeys()}
	if opt.MaxShardSize > 0 {
		dopt.MaxShardSize = opt.MaxShardSize
	} else {
		dopt.Shards = shards
		dopt.ShardMetadata = shardMeta
	}
	if ix := c.Index(); ix != nil {
		if n, ok := ix.TotalParameters(); ok {
			dopt.TotalParameters = n
		}
		for k := range ix.Metadata {
			if k != "total_size" && k != "total_parameters" && opt.Log != nil {
				fmt.Fprintf(opt.Log, "resave: note: index metadata %q is not carried over\n", k)
			}
		}
	}
	var total int64
	for i := range tensors {
		total += tensors[i].NumBytes()
	}
	every := opt.ProgressEvery
	if every == 0 {
		every = 2 * time.Second
	}
	start := time.Now()
	last := start
	if opt.Log != nil {
		dopt.Progress = func(file, name string, done, total int64) {
			if now := time.Now(); now.Sub(last) >= every {
				last = now
				fmt.Fprintf(opt.Log, "resave: %s / %s (%.0f%%) %s\n", HumanBytes(done), HumanBytes(total), 100*float64(done)/float64(max(total, 1)), file)
			}
		}
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if err := WriteDirOptions(dst, tensors, dopt); err != nil {
		return nil, err
	}
	sum.Tensors, sum.Bytes = len(tensors), total
	out, _ := os.ReadDir(dst)
	for _, e := range out {
		if e.Name() == SingleFileName || e.Name() == IndexFileName || shardRe.MatchString(e.Name()) {
			sum.WeightFiles = append(sum.WeightFiles, e.Name())
		}
	}

	// Copy the other files.
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if weightFiles[name] || name == IndexFileName || strings.Contains(name, ".tmp-") {
			continue
		}
		if shardRe.MatchString(name) || name == SingleFileName {
			if opt.Log != nil {
				fmt.Fprintf(opt.Log, "resave: skipping %s (weights not referenced by the checkpoint)\n", name)
			}
			continue
		}
		if !e.Type().IsRegular() {
			if opt.Log != nil {
				fmt.Fprintf(opt.Log, "resave: skipping %s (not a regular file)\n", name)
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		if name == "config.json" && opt.DType != "" && sum.Cast > 0 {
			data = dtypeLineRe.ReplaceAll(data, []byte(`  "$1": "`+opt.DType.TorchName()+`"`))
		}
		if err := WriteAtomic(filepath.Join(dst, name), data); err != nil {
			return nil, err
		}
		sum.Copied = append(sum.Copied, name)
	}
	if opt.Log != nil {
		cast := ""
		if sum.Cast > 0 {
			cast = fmt.Sprintf(", %d cast to %s", sum.Cast, opt.DType)
		}
		fmt.Fprintf(opt.Log, "resave: wrote %d tensors (%s%s) into %s in %.1fs; copied %d other files\n",
			sum.Tensors, HumanBytes(sum.Bytes), cast, strings.Join(sum.WeightFiles, ", "), time.Since(start).Seconds(), len(sum.Copied))
	}
	return sum, nil
}

// castTensor streams a float tensor converted to dst in bounded chunks.
func castTensor(ti TensorInfo, data []byte, dst DType) Tensor {
	return Tensor{Name: ti.Name, DType: dst, Shape: ti.Shape, Write: func(w io.Writer) error {
		const chunk = 1 << 18
		src := ti.DType.Size()
		n := int(ti.NumElements())
		f32 := make([]float32, min(chunk, n))
		out := make([]byte, len(f32)*dst.Size())
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			decodeFloat32(ti.DType, f32[:hi-lo], data[lo*src:hi*src])
			encodeFloat32Into(dst, out[:(hi-lo)*dst.Size()], f32[:hi-lo])
			if _, err := w.Write(out[:(hi-lo)*dst.Size()]); err != nil {
				return err
			}
		}
		return nil
	}}
}

// HumanBytes formats a byte count with a decimal unit (B, kB, MB, GB), as
// the resave progress lines and the convert command print sizes.
func HumanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
