package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/convert"
	"github.com/speculators-go/speculators/safetensors"
	"github.com/speculators-go/speculators/validate"
)

func init() { commands = append(commands, newConvertCmd) }

func newConvertCmd() *cobra.Command {
	var o convert.Options
	var kwargs, validateDevice string
	cmd := &cobra.Command{
		Use:   "convert SRC --algorithm eagle3|eagle|dflash|mtp --verifier VERIFIER",
		Short: "Convert a research draft checkpoint (EAGLE-3, EAGLE-1/HASS, DFlash, MTP) to the speculators format",
		Long: `convert turns a draft model trained elsewhere into a speculators checkpoint
(config.json + model.safetensors) that "vllm serve" loads.

SRC and VERIFIER are local Hugging Face model directories, or hub ids
(org/name) already in the local Hugging Face cache ($HF_HUB_CACHE, else
$HF_HOME/hub, else ~/.cache/huggingface/hub; nothing is downloaded). SRC may
hold model.safetensors, sharded safetensors with model.safetensors.index.json,
pytorch_model.bin (also sharded with pytorch_model.bin.index.json) or one *.pt
file; PyTorch files are read by a restricted unpickler that never runs code
and refuses anything but tensors.

Algorithms:
  eagle3  SafeAILab / SpecForge / NVIDIA / AngelSlim EAGLE-3 drafts:
          midlayer.* -> layers.0.* (multi-layer sources keep every layer),
          fc, norms (input_norm, fc_norm.N kept), d2t/t2d, optional embed_tokens.
  eagle   EAGLE-1 / HASS drafts, to the historical "eagle" speculators form.
          NOTE: current vLLM does not serve this form, and the Python library
          removed it; use it only for tools that still read it.
  dflash  z-lab DFlash drafts: fused qkv_proj split, target_layer_ids shifted
          by one to capture ids, embed_tokens and lm_head taken from VERIFIER.
  mtp     the native MTP head of a Qwen3-Next / Qwen3.5 verifier (SRC is the
          verifier checkpoint): mtp.* renamed, experts fused.

Every source tensor is either placed in the output or dropped with a printed
reason; an unknown or missing tensor is an error naming it (never a random
initialisation). Tensors are streamed one at a time, so memory stays small.
The output is then checked with "speculators validate" (skip with
--no-validate).

--algorithm-kwargs is a JSON object, as in the Python CLI:
  eagle3: norm_before_residual, norm_before_fc, fc_norm, norm_output,
          eagle_aux_hidden_state_layer_ids, cache_dir
  eagle:  fusion_bias, layernorms, cache_dir
  dflash: aux_hidden_state_layer_ids, cache_dir
  mtp:    num_speculative_steps, cache_dir

Exit codes: 0 success, 1 conversion failed or validation found errors, 2 bad usage.`,
		Example: `  speculators convert yuhuili/EAGLE3-LLaMA3.1-Instruct-8B --algorithm eagle3 \
      --verifier meta-llama/Llama-3.1-8B-Instruct --output-path eagle3-llama8b
  speculators convert ./dflash-qwen3-8b --algorithm dflash --verifier Qwen/Qwen3-8B \
      --output-path dflash-qwen3-8b --dtype bfloat16`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{fmt.Errorf("convert takes exactly one SRC argument, got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Source = args[0]
			if o.Algorithm == "" || o.Verifier == "" {
				return &usageError{fmt.Errorf("convert needs --algorithm and --verifier")}
			}
			if kwargs != "" {
				dec := json.NewDecoder(strings.NewReader(kwargs))
				dec.UseNumber()
				if err := dec.Decode(&o.Kwargs); err != nil || o.Kwargs == nil {
					return &usageError{fmt.Errorf("--algorithm-kwargs: want a JSON object: %v", err)}
				}
			}
			stderr := cmd.ErrOrStderr()
			o.Log = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
			res, err := convert.Convert(o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "converted %s (%s) -> %s: %d tensors, %s, %s\n", o.Source, o.Algorithm, res.Dir, res.Tensors, safetensors.HumanBytes(res.Bytes), res.DType.TorchName())
			if len(res.Dropped) > 0 {
				names := make([]string, 0, len(res.Dropped))
				for n := range res.Dropped {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintf(out, "  dropped %s: %s\n", n, res.Dropped[n])
				}
			}
			return reportValidation(out, res.Report, o.NoValidate)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Algorithm, "algorithm", "", "source layout: eagle3, eagle, dflash or mtp (required)")
	f.StringVar(&o.Verifier, "verifier", "", "verifier model directory or cached hub id; written as verifier.name_or_path (required)")
	f.StringVar(&o.OutputPath, "output-path", "converted", "output directory")
	f.StringVar(&kwargs, "algorithm-kwargs", "", "JSON object of algorithm options (see above)")
	f.StringVar(&o.DType, "dtype", "", "cast float tensors to float32, float16 or bfloat16 (default: the Python converter's choice)")
	f.BoolVar(&o.NoValidate, "no-validate", false, "skip validating the output")
	f.StringVar(&validateDevice, "validate-device", "", "accepted for compatibility with the Python CLI; validation runs on the CPU regardless")
	f.Int64Var(&o.MaxShardSize, "max-shard-size", 0, "bytes per safetensors shard (default 5000000000, as transformers 4.x)")
	return cmd
}

// reportValidation prints the validation summary of a command's output and
// turns errors into exit code 1.
func reportValidation(out io.Writer, r *validate.Report, skipped bool) error {
	if r == nil {
		if skipped {
			fmt.Fprintln(out, "validation skipped (--no-validate)")
		}
		return nil
	}
	errs, warns := r.Count()
	for _, f := range r.Findings {
		fmt.Fprintf(out, "%-7s %s: %s\n", f.Severity, f.Key, f.Msg)
	}
	fmt.Fprintf(out, "validate %s: %d errors, %d warnings\n", r.Dir, errs, warns)
	if !r.OK() {
		return &exitError{code: 1, err: fmt.Errorf("%s: converted, but validation found %d errors", r.Dir, errs)}
	}
	return nil
}
