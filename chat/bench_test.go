package chat

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRenderQwen3 renders a 20-turn conversation with tools through the
// real Qwen3 template, as data preparation does for every assistant turn.
func BenchmarkRenderQwen3(b *testing.B) {
	dir := modelDirs["qwen3"]
	needNPM(b, dir)
	tmpl, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	msgs := []Message{Message(`{"role": "system", "content": "You are helpful."}`)}
	for i := range 10 {
		msgs = append(msgs,
			Message(fmt.Sprintf(`{"role": "user", "content": "Question %d: explain the thing in some detail, please."}`, i)),
			Message(fmt.Sprintf(`{"role": "assistant", "content": "<think>\nreasoning %d\n</think>\n\nAnswer %d with a few sentences of text."}`, i, i)))
	}
	tools := []any{Message(`{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}`)}
	now := func() time.Time { return fuzzNow }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(msgs, RenderOptions{Tools: tools, AddGenerationPrompt: true, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
