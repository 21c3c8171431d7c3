package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/safetensors"
)

func init() { commands = append(commands, newResaveCmd) }

func newResaveCmd() *cobra.Command {
	var output, dtype, maxShard string
	cmd := &cobra.Command{
		Use:   "resave SRC --output-path OUT [--dtype bfloat16|float16|float32] [--max-shard-size 5GB]",
		Short: "Rewrite a checkpoint's safetensors weights in canonical form",
		Long: `resave reads a checkpoint directory (model.safetensors, or shards with
model.safetensors.index.json) and writes it again into OUT exactly as Python's
safetensors and transformers' save_pretrained would: same tensor order, header
bytes, shard names and index. Every other file in SRC (config.json,
generation_config.json, tokenizer files, ...) is copied unchanged.

Without --dtype and --max-shard-size the layout is kept, so a checkpoint written
by Python comes out byte-identical. --dtype casts every floating-point tensor
(integer and bool tensors such as d2t/t2d keep their dtype) and updates the
top-level "dtype"/"torch_dtype" of config.json. --max-shard-size re-splits the
weights like save_pretrained(max_shard_size=...): GB/MB/KB are powers of 10,
GiB/MiB/KiB powers of 2.

Files are written under temporary names and renamed when complete; progress
goes to stderr.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{fmt.Errorf("resave: want one SRC directory, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return &usageError{errors.New("resave: --output-path is required")}
			}
			var opt safetensors.ResaveOptions
			opt.Log = cmd.ErrOrStderr()
			if dtype != "" {
				d, err := safetensors.ParseDType(dtype)
				if err != nil || !d.IsFloat() {
					return &usageError{fmt.Errorf("resave: --dtype %q: want bfloat16, float16 or float32", dtype)}
				}
				opt.DType = d
			}
			if maxShard != "" {
				n, err := safetensors.ParseSize(maxShard)
				if err != nil || n <= 0 {
					return &usageError{fmt.Errorf("resave: --max-shard-size: %v", errOr(err, "must be positive"))}
				}
				opt.MaxShardSize = n
			}
			_, err := safetensors.Resave(args[0], output, opt)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output-path", "o", "", "output directory (created if missing)")
	cmd.Flags().StringVar(&dtype, "dtype", "", "cast floating-point tensors to bfloat16, float16 or float32")
	cmd.Flags().StringVar(&maxShard, "max-shard-size", "", `re-split into shards of at most this size, e.g. "5GB" (default: keep the source layout)`)
	return cmd
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
