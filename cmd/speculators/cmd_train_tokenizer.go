package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/tokenizer/bpetrain"
)

func init() { commands = append(commands, newTrainTokenizerCmd) }

const maxTokenizerInput = 1 << 30

func newTrainTokenizerCmd() *cobra.Command {
	var (
		inputs, special []string
		output          string
		vocabSize       int
		minFreq         int
		maxLen          int
	)
	cmd := &cobra.Command{
		Use:   "train-tokenizer --input FILE... --vocab-size N --output DIR",
		Short: "Train a byte-level BPE tokenizer and write tokenizer.json + tokenizer_config.json",
		Long: `Learn a GPT-2 style byte-level BPE (Qwen2 pre-tokenizer regex, ByteLevel,
256 byte tokens, merges by pair frequency with ties to the smaller pair) from
plain text files, and write a Hugging Face tokenizer.json and a
tokenizer_config.json with a ChatML chat template to --output.

--vocab-size counts the 256 bytes, the merges and the --special-tokens
(default <|endoftext|> <|im_start|> <|im_end|>: bos/pad, turn start, eos).
Special tokens found in the input are not merged across.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(inputs) == 0 || output == "" || vocabSize <= 0 {
				return &usageError{errors.New("train-tokenizer: need --input, --vocab-size and --output")}
			}
			if len(special) == 0 {
				special = bpetrain.DefaultSpecialTokens
			}
			start := time.Now()
			tr := bpetrain.NewTrainer()
			var total int64
			for _, in := range inputs {
				fi, err := os.Stat(in)
				if err != nil {
					return err
				}
				if total += fi.Size(); total > maxTokenizerInput {
					return fmt.Errorf("train-tokenizer: inputs larger than %d bytes", maxTokenizerInput)
				}
				b, err := os.ReadFile(in)
				if err != nil {
					return err
				}
				if err := tr.Add(string(b), special); err != nil {
					return fmt.Errorf("train-tokenizer: %s: %w", in, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "train-tokenizer: read %s (%d bytes), %d distinct words\n", in, len(b), tr.Words())
			}
			res, err := tr.Train(bpetrain.Options{VocabSize: vocabSize, SpecialTokens: special, MinFrequency: minFreq, Progress: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			if err := res.Save(output, maxLen); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "train-tokenizer: %d tokens (%d merges, %d special) in %s -> %s\n",
				res.VocabSize(), len(res.Merges), len(res.Special), time.Since(start).Round(time.Millisecond), output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&inputs, "input", nil, "text files to learn from (repeat or comma-separate)")
	f.IntVar(&vocabSize, "vocab-size", 0, "total vocabulary size, special tokens included")
	f.StringVar(&output, "output", "", "output directory")
	f.StringSliceVar(&special, "special-tokens", nil, "special tokens appended after the merges")
	f.IntVar(&minFreq, "min-frequency", 2, "never merge pairs seen fewer times")
	f.IntVar(&maxLen, "model-max-length", 2048, "model_max_length of tokenizer_config.json")
	return cmd
}
