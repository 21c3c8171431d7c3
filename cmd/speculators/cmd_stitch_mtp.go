package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/convert"
)

func init() { commands = append(commands, newStitchMTPCmd) }

func newStitchMTPCmd() *cobra.Command {
	var o convert.StitchOptions
	cmd := &cobra.Command{
		Use:   "stitch-mtp FINETUNED VERIFIER",
		Short: "Put a finetuned MTP head back into a copy of its verifier",
		Long: `stitch-mtp is how an MTP draft is deployed: vLLM serves the stitched
verifier with speculative method "mtp". FINETUNED is a speculators mtp
checkpoint; VERIFIER the Qwen3-Next / Qwen3.5 model it was extracted from
(local directories or hub ids in the local Hugging Face cache).

The verifier directory is copied to --output-path; only the safetensors shards
holding mtp.* tensors are rewritten (experts unfused, names mapped back,
dtypes cast to the verifier's), keeping each shard's metadata, so
model.safetensors.index.json stays valid unchanged. A finetuned tensor the
verifier does not have, or whose shape differs, is an error.

Exit codes: 0 success, 1 failure, 2 bad usage.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return &usageError{fmt.Errorf("stitch-mtp takes FINETUNED and VERIFIER, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Finetuned, o.Verifier = args[0], args[1]
			stderr := cmd.ErrOrStderr()
			o.Log = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
			res, err := convert.Stitch(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stitched %d tensors into %s: rewrote %v, copied %d files\n", res.Replaced, res.Dir, res.Rewritten, res.Copied)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.OutputPath, "output-path", "", "output directory (default <verifier name>-stitched)")
	return cmd
}
