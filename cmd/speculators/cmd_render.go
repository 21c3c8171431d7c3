package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/chat"
)

func init() { commands = append(commands, newRenderCmd) }

func newRenderCmd() *cobra.Command {
	var (
		model, messagesFile, toolsFile, kwargsJSON, templateName string
		addGenerationPrompt                                      bool
	)
	cmd := &cobra.Command{
		Use:   "render --model DIR --messages FILE.json",
		Short: "Render a conversation with the model's chat template",
		Long: `render applies the chat template of a model directory to a conversation and
prints the text, exactly as Hugging Face transformers' apply_chat_template
would (tokenize=False).

The template comes from chat_template.jinja (and additional_chat_templates/)
in DIR, else from the chat_template of DIR/tokenizer_config.json; special
tokens (bos_token, eos_token, ...) come from tokenizer_config.json.

--messages is a JSON array of messages ({"role": ..., "content": ...}, with
tool_calls, reasoning_content, content parts, ... as the template expects).
--tools is a JSON array of tool schemas. --kwargs is a JSON object of extra
template variables, e.g. '{"enable_thinking": false}'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" || messagesFile == "" {
				return &usageError{errors.New("render: --model and --messages are required")}
			}
			tmpl, err := chat.Load(model)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(messagesFile)
			if err != nil {
				return err
			}
			msgs, err := chat.ParseMessages(data)
			if err != nil {
				return fmt.Errorf("%s: %w", messagesFile, err)
			}
			opts := chat.RenderOptions{AddGenerationPrompt: addGenerationPrompt, TemplateName: templateName}
			if toolsFile != "" {
				data, err := os.ReadFile(toolsFile)
				if err != nil {
					return err
				}
				var tools []json.RawMessage
				if err := json.Unmarshal(data, &tools); err != nil {
					return fmt.Errorf("%s: tools must be a JSON array: %w", toolsFile, err)
				}
				opts.Tools = make([]any, len(tools))
				for i, t := range tools {
					opts.Tools[i] = t
				}
			}
			if kwargsJSON != "" {
				var kw map[string]json.RawMessage
				if err := json.Unmarshal([]byte(kwargsJSON), &kw); err != nil {
					return &usageError{fmt.Errorf("render: --kwargs must be a JSON object: %w", err)}
				}
				opts.Kwargs = make(map[string]any, len(kw))
				for k, v := range kw {
					opts.Kwargs[k] = v
				}
			}
			out, err := tmpl.Render(msgs, opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "model directory with tokenizer_config.json and/or chat_template.jinja")
	f.StringVar(&messagesFile, "messages", "", "JSON file holding an array of messages")
	f.BoolVar(&addGenerationPrompt, "add-generation-prompt", false, "append the assistant turn header")
	f.StringVar(&kwargsJSON, "kwargs", "", `extra template variables as a JSON object, e.g. '{"enable_thinking": false}'`)
	f.StringVar(&toolsFile, "tools", "", "JSON file holding an array of tool schemas")
	f.StringVar(&templateName, "template", "", `named template to use ("default", "tool_use", ...); default: transformers' choice`)
	return cmd
}
