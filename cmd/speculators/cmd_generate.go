package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/sample"
	"github.com/speculators-go/speculators/tokenizer"
)

func init() { commands = append(commands, newGenerateCmd) }

func newGenerateCmd() *cobra.Command {
	var (
		model, prompt, messages string
		useChat                 bool
		maxTokens               int
		params                  sample.Params
	)
	cmd := &cobra.Command{
		Use:   "generate --model DIR (--prompt TEXT | --messages FILE)",
		Short: "Generate text with the embedded verifier runtime",
		Long: `Generate text from a Llama, Mistral, Qwen2 or Qwen3 model directory
(config.json, safetensors weights, tokenizer.json) on the CPU, streaming the
text to stdout as it is produced. Stops at --max-tokens or at an end-of-
sequence id of config.json or generation_config.json.

--prompt is tokenized as is (with the tokenizer's special tokens), or with
--chat wrapped as one user message in the model's chat template. --messages
reads a JSON list of {"role", "content"} messages and always uses the chat
template with the generation prompt.

Sampling is greedy unless --temperature > 0; --top-k and --top-p filter as
Hugging Face does, and --seed makes sampled runs reproducible. The summary on
stderr gives prefill and decode tokens per second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" || (prompt == "") == (messages == "") {
				return &usageError{errors.New("generate: need --model and exactly one of --prompt, --messages")}
			}
			if err := params.Validate(); err != nil {
				return &usageError{err}
			}
			if maxTokens < 0 {
				return &usageError{errors.New("generate: --max-tokens must be ≥ 0")}
			}
			tok, err := tokenizer.LoadDir(model)
			if err != nil {
				return err
			}
			text := prompt
			if messages != "" || useChat {
				var msgs []chat.Message
				if messages != "" {
					b, err := os.ReadFile(messages)
					if err != nil {
						return err
					}
					if msgs, err = chat.ParseMessages(b); err != nil {
						return fmt.Errorf("generate: %s: %w", messages, err)
					}
				} else {
					b, err := json.Marshal(map[string]string{"role": "user", "content": prompt})
					if err != nil {
						return err
					}
					msgs = []chat.Message{b}
				}
				tmpl, err := chat.Load(model)
				if err != nil {
					return err
				}
				if text, err = tmpl.Render(msgs, chat.RenderOptions{AddGenerationPrompt: true}); err != nil {
					return err
				}
			}
			// A chat template already spells BOS where the model wants it.
			ids := tok.Encode(text, messages == "" && !useChat)
			m, err := llama.Load(model)
			if err != nil {
				return err
			}
			eos, err := m.StopIDs(tok.EOS())
			if err != nil {
				return err
			}
			smp, err := sample.New(params)
			if err != nil {
				return err
			}
			prompt32 := make([]int32, len(ids))
			for i, id := range ids {
				prompt32[i] = int32(id)
			}
			w := cmd.OutOrStdout()
			sd := &streamDecoder{tok: tok, w: w}
			_, stats, err := llama.Generate(m.NewState(1), prompt32, llama.GenerateOptions{
				MaxTokens: maxTokens, Sampler: smp, EOS: eos,
				OnToken: func(id int32) error { return sd.add(int(id)) },
			})
			if err != nil {
				return err
			}
			if err := sd.flush(); err != nil {
				return err
			}
			fmt.Fprintln(w)
			fmt.Fprintf(cmd.ErrOrStderr(), "prefill: %d tokens in %.3fs (%.1f tokens/s); decode: %d tokens in %.3fs (%.1f tokens/s); stop: %s\n",
				stats.PromptTokens, stats.Prefill.Seconds(), stats.PrefillTokensPerSecond(),
				max(stats.NewTokens-1, 0), stats.Decode.Seconds(), stats.DecodeTokensPerSecond(), stats.Stop)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "Hugging Face model directory")
	f.StringVar(&prompt, "prompt", "", "prompt text")
	f.StringVar(&messages, "messages", "", "JSON file with a list of chat messages")
	f.BoolVar(&useChat, "chat", false, "wrap --prompt as a user message in the chat template")
	f.IntVar(&maxTokens, "max-tokens", 128, "maximum number of new tokens")
	f.Float64Var(&params.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.Float64Var(&params.TopP, "top-p", 1, "nucleus sampling mass (1 = off)")
	f.IntVar(&params.TopK, "top-k", 0, "sample among the k most likely tokens (0 = off)")
	f.Uint64Var(&params.Seed, "seed", 0, "random seed for sampling")
	return cmd
}

// streamDecoder prints the text of a growing token list as it grows,
// holding back a trailing incomplete UTF-8 sequence until it completes.
type streamDecoder struct {
	tok     *tokenizer.Tokenizer
	w       io.Writer
	ids     []int
	printed int // bytes of the decoded text already written
}

func (s *streamDecoder) add(id int) error {
	s.ids = append(s.ids, id)
	text := s.tok.Decode(s.ids, true)
	if strings.HasSuffix(text, string(utf8.RuneError)) {
		return nil
	}
	return s.emit(text)
}

func (s *streamDecoder) flush() error { return s.emit(s.tok.Decode(s.ids, true)) }

func (s *streamDecoder) emit(text string) error {
	if len(text) <= s.printed {
		return nil
	}
	_, err := io.WriteString(s.w, text[s.printed:])
	s.printed = len(text)
	return err
}
