// Command speculators prepares data, trains, converts, validates and evaluates
// speculative-decoding draft models ("speculators") in the Hugging Face-compatible
// speculators checkpoint format that vLLM serves directly.
//
// Exit codes: 0 success, 1 failure (including validation findings), 2 bad usage.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
)

// commands holds the constructors of every subcommand. Each cmd_*.go file
// appends its own in an init function, so subcommands stay one file each.
var commands []func() *cobra.Command

// exitError carries an exit code chosen by a subcommand (validate exits 1 on
// findings without it being an internal failure).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks errors in the command line itself.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "speculators",
		Short: "Train, convert, validate and evaluate speculative-decoding draft models",
		Long: `speculators makes large language models generate faster through speculative
decoding. It prepares training conversations, extracts the verifier's hidden
states, builds the draft vocabulary, trains EAGLE-3 drafts, converts research
checkpoints, evaluates acceptance, and writes checkpoints in the speculators
format that "vllm serve <checkpoint>" deploys directly.

Exit codes: 0 success, 1 failure or validation findings, 2 bad usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err}
	})
	cmds := make([]*cobra.Command, 0, len(commands))
	for _, f := range commands {
		cmds = append(cmds, f())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI with args and returns the process exit code.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "speculators:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "speculators:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
