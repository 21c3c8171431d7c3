package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/datagen"
)

func init() { commands = append(commands, newLaunchVLLMCmd) }

func newLaunchVLLMCmd() *cobra.Command {
	var (
		o       datagen.LaunchOptions
		targets string
		noLast  bool
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "launch-vllm MODEL [--hidden-states-path P] [--target-layer-ids 2,14,25] [--dry-run] -- [vllm serve args]",
		Short: "Start vLLM for hidden-state extraction (the server speculators datagen --endpoint talks to)",
		Long: `Build and exec the vllm serve command line that makes vLLM write hidden
states for "speculators datagen --endpoint", as speculators' launch_vllm.py does:
  --speculative_config  {"method": "extract_hidden_states", "num_speculative_tokens": 1,
                         "draft_model_config": {"hf_config": {"eagle_aux_hidden_state_layer_ids": IDS}}}
  --kv_transfer_config  {"kv_connector": "ExampleHiddenStatesConnector", "kv_role": "kv_producer",
                         "kv_connector_extra_config": {"shared_storage_path": P}}
IDS are the target ids (default 2, N/2, N-3) plus the last layer N, N being
num_hidden_layers of MODEL/config.json (--num-layers for a Hub id). Pass the
same target ids, without N, to training. Everything after -- goes to vLLM
(--port, --tensor-parallel-size, ...); like launch_vllm.py, other positional
arguments are forwarded too. --dry-run prints the command instead.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Model = args[0]
			o.VLLMArgs = args[1:]
			if targets != "" {
				ids, err := parseInts(targets)
				if err != nil {
					return &usageError{fmt.Errorf("launch-vllm: --target-layer-ids: %w", err)}
				}
				o.TargetLayerIDs = ids
			}
			o.IncludeLastLayer = !noLast
			argv, err := datagen.LaunchCommand(o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), datagen.ShellQuote(argv))
			if dryRun {
				return nil
			}
			if o.HiddenStatesPath != "" {
				if err := os.MkdirAll(o.HiddenStatesPath, 0o755); err != nil {
					return err
				}
			}
			bin, err := exec.LookPath(argv[0])
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("launch-vllm: %w (use --python to name the interpreter that has vLLM)", err)}
			}
			return errors.Join(fmt.Errorf("launch-vllm: exec %s", bin), syscall.Exec(bin, argv, os.Environ()))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.HiddenStatesPath, "hidden-states-path", "", "directory the connector writes files to (default $TMPDIR/hidden_states)")
	f.StringVar(&targets, "target-layer-ids", "", "comma-separated aux layer ids (default 2, N/2, N-3)")
	f.BoolVar(&noLast, "no-include-last-layer", false, "do not append N to custom --target-layer-ids")
	f.IntVar(&o.NumLayers, "num-layers", 0, "num_hidden_layers of MODEL (default: read MODEL/config.json)")
	f.StringVar(&o.Python, "python", "python3", "Python interpreter with vLLM installed")
	f.BoolVar(&dryRun, "dry-run", false, "print the command and exit")
	return cmd
}
