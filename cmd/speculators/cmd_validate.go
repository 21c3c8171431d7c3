package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/validate"
)

func init() { commands = append(commands, newValidateCmd) }

func newValidateCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a speculators checkpoint against the format and what vLLM needs",
		Long: `validate checks a speculators checkpoint directory: the config.json schema and
its exact bytes, tensor names, shapes and dtypes against the config, the
d2t/t2d vocabulary mapping, what vLLM needs to load the draft, the safetensors
header layout Python writes, NaN/Inf values, and weights that look untrained.

Every finding names the config key, tensor or file it is about. Errors are
contract violations; warnings are legal but suspicious.

Exit codes: 0 no errors (warnings allowed), 1 errors found or the directory
cannot be read, 2 bad usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := validate.Dir(args[0])
			if err != nil {
				return err
			}
			errs, warns := r.Count()
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(struct {
					*validate.Report
					OK       bool `json:"ok"`
					Errors   int  `json:"errors"`
					Warnings int  `json:"warnings"`
				}{r, r.OK(), errs, warns}, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s\n", b)
			} else {
				for _, f := range r.Findings {
					fmt.Fprintf(out, "%-7s %s: %s\n", f.Severity, f.Key, f.Msg)
				}
				fmt.Fprintf(out, "%s: %d errors, %d warnings\n", r.Dir, errs, warns)
			}
			if !r.OK() {
				return &exitError{code: 1, err: fmt.Errorf("%s: %d errors", r.Dir, errs)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
