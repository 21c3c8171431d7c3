package chat_test

import (
	"fmt"

	"github.com/speculators-go/speculators/chat"
)

func Example() {
	tmpl, err := chat.New("example",
		"{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"+
			"{% if add_generation_prompt %}<|assistant|>{% endif %}{{ extra | tojson }}",
		map[string]any{"eos_token": "</s>"})
	if err != nil {
		panic(err)
	}
	out, err := tmpl.Render([]chat.Message{
		chat.Message(`{"role": "user", "content": "Hi"}`),
	}, chat.RenderOptions{
		AddGenerationPrompt: true,
		Kwargs:              map[string]any{"extra": chat.Message(`{"z": 1, "a": "é"}`)},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output:
	// <|user|>Hi
	// <|assistant|>{"z": 1, "a": "é"}
}
