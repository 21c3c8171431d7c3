package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/tokenizer"
)

func init() { commands = append(commands, newTokenizeCmd) }

func newTokenizeCmd() *cobra.Command {
	var (
		model, text, file, jsonl, out string
		idsOnly, noSpecial, special   bool
		workers                       int
	)
	cmd := &cobra.Command{
		Use:   "tokenize --model DIR (--text T | --file F | --jsonl F)",
		Short: "Encode text with a model's Hugging Face tokenizer",
		Long: `Encode text with the tokenizer.json (and tokenizer_config.json) of a model
directory, giving the same ids as Hugging Face tokenizers.

With --text or --file, prints one line per token (id, token, text) or, with
--ids, a JSON array of the ids. BOS/EOS are added as the model's post-processor
says unless --no-special.

With --jsonl, each input line {"text": "..."} gives one output line
{"ids": [...]}, in order, encoded in parallel. Special tokens are NOT added
unless --special (text that spells a special token, such as <|im_start|>, is
always encoded as that token). Progress goes to stderr, a summary at the end.
With --out the result is written to a temporary file and renamed into place.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, s := range []string{text, file, jsonl} {
				if s != "" {
					n++
				}
			}
			if cmd.Flags().Changed("text") && text == "" {
				n++ // an explicit empty --text is still a choice
			}
			if model == "" || n != 1 {
				return &usageError{errors.New("tokenize: need --model and exactly one of --text, --file, --jsonl")}
			}
			if noSpecial && special {
				return &usageError{errors.New("tokenize: --special and --no-special contradict each other")}
			}
			tok, err := tokenizer.LoadDir(model)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if jsonl != "" {
				return tokenizeJSONL(tok, jsonl, out, w, cmd.ErrOrStderr(), special, workers)
			}
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				text = string(b)
			}
			ids := tok.Encode(text, !noSpecial)
			var sb strings.Builder
			if idsOnly {
				sb.WriteByte('[')
				for i, id := range ids {
					if i > 0 {
						sb.WriteString(", ")
					}
					sb.WriteString(strconv.Itoa(id))
				}
				sb.WriteString("]\n")
			} else {
				for _, id := range ids {
					t, _ := tok.IDToToken(id)
					fmt.Fprintf(&sb, "%d\t%q\t%q\n", id, t, tok.Decode([]int{id}, false))
				}
				fmt.Fprintf(&sb, "%d tokens, %d bytes\n", len(ids), len(text))
			}
			_, err = io.WriteString(w, sb.String())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "model directory holding tokenizer.json")
	f.StringVar(&text, "text", "", "text to encode")
	f.StringVar(&file, "file", "", "file whose whole content is encoded")
	f.StringVar(&jsonl, "jsonl", "", `JSONL file of {"text": ...} lines ("-" for stdin)`)
	f.StringVar(&out, "out", "", "with --jsonl: output file (default stdout)")
	f.BoolVar(&idsOnly, "ids", false, "print only the ids, as a JSON array")
	f.BoolVar(&noSpecial, "no-special", false, "do not add BOS/EOS (--text, --file)")
	f.BoolVar(&special, "special", false, "add BOS/EOS (--jsonl)")
	f.IntVar(&workers, "workers", 0, "encoding goroutines for --jsonl (0: all cores)")
	return cmd
}

func tokenizeJSONL(tok *tokenizer.Tokenizer, in, out string, stdout, stderr io.Writer, special bool, workers int) error {
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	w := stdout
	var tmp *os.File
	if out != "" {
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
		if err != nil {
			return err
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	st, err := tok.EncodeJSONL(r, w, tokenizer.JSONLOptions{AddSpecial: special, Workers: workers, Name: in, Progress: stderr})
	if err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return err
		}
		tmp = nil
	}
	secs := max(st.Time.Seconds(), time.Microsecond.Seconds())
	fmt.Fprintf(stderr, "tokenize: %s: %d lines, %d tokens, %.1f MB in %.2fs (%.1f MB/s)\n",
		in, st.Lines, st.Tokens, float64(st.Bytes)/1e6, st.Time.Seconds(), float64(st.Bytes)/1e6/secs)
	return nil
}
