package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/validate"
)

func init() { commands = append(commands, newInspectCmd) }

func newInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "Summarize a speculators checkpoint",
		Long: `inspect prints what a speculators checkpoint holds: the algorithm, the
verifier, the draft's layers and sizes, the verifier and draft vocabularies,
the aux layer ids, the number of speculative tokens, parameter counts by
tensor group, dtypes, and bytes on disk. With --json it also lists every
tensor. It does not judge the checkpoint; use validate for that.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := validate.Inspect(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(s, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s\n", b)
				return nil
			}
			fmt.Fprint(out, s.Text())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON, with every tensor")
	return cmd
}
