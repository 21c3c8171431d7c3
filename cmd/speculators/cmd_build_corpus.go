package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/corpus"
	"github.com/speculators-go/speculators/internal/atomicfile"
)

func init() { commands = append(commands, newBuildCorpusCmd) }

func newBuildCorpusCmd() *cobra.Command {
	var (
		fortunes, output string
		holdout          int
		seed             uint64
	)
	cmd := &cobra.Command{
		Use:   "build-corpus --fortunes DIR --output DIR",
		Short: "Turn the Debian fortunes files into chat conversations for the bundled verifier",
		Long: `Read the fortune files of corpus.Topics under --fortunes (Debian package
"fortunes": /usr/share/games/fortunes) and write, in --output:

  train.txt, valid.txt     conversations rendered in ChatML, each ended by <|endoftext|>
  train.jsonl, valid.jsonl one {"topic", "messages"} conversation per line

The user asks for a fortune on the file's topic in one of a few fixed
phrasings; the assistant answers with one fortune. The last --holdout
conversations (after a shuffle fixed by --seed) are held out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if fortunes == "" || output == "" {
				return &usageError{errors.New("build-corpus: need --fortunes and --output")}
			}
			convs, err := corpus.Build(fortunes, seed)
			if err != nil {
				return err
			}
			if holdout < 0 || holdout >= len(convs) {
				return &usageError{fmt.Errorf("build-corpus: --holdout %d must be in [0, %d)", holdout, len(convs))}
			}
			if err := os.MkdirAll(output, 0o755); err != nil {
				return err
			}
			split := map[string][]corpus.Conversation{"train": convs[:len(convs)-holdout], "valid": convs[len(convs)-holdout:]}
			for name, cs := range split {
				var txt, js bytes.Buffer
				for _, c := range cs {
					txt.WriteString(corpus.RenderChatML(c, "<|endoftext|>"))
				}
				if err := corpus.WriteJSONL(&js, cs); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(filepath.Join(output, name+".txt"), txt.Bytes(), 0o644); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(filepath.Join(output, name+".jsonl"), js.Bytes(), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "build-corpus: %s: %d conversations, %d bytes\n", name, len(cs), txt.Len())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&fortunes, "fortunes", "", "directory of fortune files (e.g. /usr/share/games/fortunes)")
	f.StringVar(&output, "output", "", "output directory")
	f.IntVar(&holdout, "holdout", 500, "conversations held out for validation and evaluation prompts")
	f.Uint64Var(&seed, "seed", 1, "shuffle seed")
	return cmd
}
