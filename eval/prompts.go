package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Prompt is one evaluation prompt: plain text, or chat messages
// ({"role", "content"}) ending with the user turn to answer.
type Prompt struct {
	Text     string
	Messages []json.RawMessage
}

// maxPromptLine bounds one line of a prompts file.
const maxPromptLine = 16 << 20

// LoadPrompts reads a prompts file: one prompt per line, either plain text
// or a JSON object with "prompt" or "text" (a string), "messages" (OpenAI
// role/content list) or "conversations" (ShareGPT from/value list). Chat
// rows keep the turns up to and including the first user turn. Blank lines
// are skipped; at most max prompts are read (0: all).
func LoadPrompts(path string, max int) ([]Prompt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxPromptLine)
	var out []Prompt
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		if !strings.HasPrefix(s, "{") {
			out = append(out, Prompt{Text: s})
		} else {
			p, err := parsePromptRow([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("eval: %s:%d: %w", path, line, err)
			}
			out = append(out, p)
		}
		if max > 0 && len(out) >= max {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("eval: %s: no prompts", path)
	}
	return out, nil
}

func parsePromptRow(b []byte) (Prompt, error) {
	var row struct {
		Prompt, Text  *string
		Messages      []struct{ Role, Content string }
		Conversations []struct{ From, Value string }
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&row); err != nil {
		return Prompt{}, err
	}
	switch {
	case row.Prompt != nil:
		return Prompt{Text: *row.Prompt}, nil
	case row.Text != nil:
		return Prompt{Text: *row.Text}, nil
	}
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	var msgs []msg
	for _, m := range row.Messages {
		msgs = append(msgs, msg{m.Role, m.Content})
	}
	roles := map[string]string{"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "system": "system"}
	for _, c := range row.Conversations {
		r, ok := roles[strings.ToLower(c.From)]
		if !ok {
			return Prompt{}, fmt.Errorf("unknown conversation role %q", c.From)
		}
		msgs = append(msgs, msg{r, c.Value})
	}
	var p Prompt
	for _, m := range msgs {
		raw, err := json.Marshal(m)
		if err != nil {
			return Prompt{}, err
		}
		p.Messages = append(p.Messages, raw)
		if m.Role == "user" {
			return p, nil
		}
	}
	return Prompt{}, fmt.Errorf("row has no prompt, text or user message")
}
