// Package chat renders a model's chat template exactly as Hugging Face
// transformers' apply_chat_template does, so that the prompts we tokenize for
// training and evaluation match the ones the verifier saw byte for byte.
//
// A template comes from a model directory (Load): chat_template.jinja and
// additional_chat_templates/*.jinja when present, otherwise the
// chat_template of tokenizer_config.json, either a string or the
// list-of-named-templates form. With several named templates, Render picks
// "tool_use" when tools are given and "default" otherwise, as transformers
// does, unless RenderOptions.TemplateName names one.
//
// Rendering reproduces transformers' Jinja environment: trim_blocks and
// lstrip_blocks, the loopcontrols extension ({% break %}, {% continue %}),
// {% generation %} blocks, raise_exception (surfaced as *TemplateError),
// strftime_now (with an injectable clock), and a tojson filter that is
// Python's json.dumps with ensure_ascii=False: key order kept, indent and
// separators as Python writes them, no HTML escaping. Messages, tools and
// kwargs are JSON values decoded with their key order kept, as Python dicts
// keep it. The special tokens of tokenizer_config.json (bos_token, eos_token,
// ...) are template variables, and extra kwargs such as enable_thinking
// override them.
//
// The engine is a fork of github.com/ardanlabs/jinja v1.8.0 (Apache-2.0)
// kept in internal/jinja with its licence. A wrapper could not reach parity:
// built-in filters cannot be replaced from outside, and upstream's tojson
// re-marshalled indented output through Go maps (sorted keys, HTML escaping).
// Beyond a Python-exact tojson, the fork carries Python str()/repr() of
// values, Python arithmetic and equality, Jinja2 3.1's filter semantics,
// Jinja2's lexer rules (string escapes, bracket-balanced tags, whitespace
// control), the immutable sandbox's refusals, and limits that turn hostile
// templates into errors; internal/jinja/README.md lists every change. Any
// panic left in the engine is recovered here and returned as an error that
// names the template.
//
// Golden outputs in testdata/chat_golden.json come from Python's Jinja2 with
// transformers' settings (testdata/gen_chat.py): whole conversations through
// real and realistic templates, and one-construct snippets; the tests require
// equality byte for byte (or an error where Python raises).
//
// Not supported: the striptags, urlize, xmlattr, wordwrap, filesizeformat
// and pprint filters, attributes of numbers (n.real), %(name)s keys in
// printf-style formatting, and Python methods of dicts/lists beyond get,
// items, keys and values. HF's continue_final_message and
// return_assistant_tokens_mask are not implemented ({% generation %} blocks
// render their body).
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/speculators-go/speculators/internal/boundedfile"
	"github.com/speculators-go/speculators/internal/jinja"
)

// Size limits for files read by Load. Real tokenizer_config.json files are
// up to a few MB (large added_tokens_decoder tables); templates are a few KB.
const (
	maxConfigBytes   = 64 << 20
	maxTemplateBytes = 4 << 20
)

// Message is one chat message: a JSON object such as
// {"role": "user", "content": "Hi"}. Any JSON is accepted (content as a list
// of parts, tool_calls, reasoning_content, ...); key order is kept.
type Message = json.RawMessage

// RenderOptions are the arguments of apply_chat_template besides the
// messages. Values of Tools, Documents and Kwargs may be json.RawMessage
// (decoded with key order kept), strings, numbers, booleans, nil, or any
// value encoding/json can marshal (structs keep field order, maps sort keys).
type RenderOptions struct {
	// AddGenerationPrompt appends the assistant turn header.
	AddGenerationPrompt bool
	// Tools are the tool schemas ({"type": "function", "function": {...}});
	// nil renders with tools=None as transformers does.
	Tools []any
	// Documents for retrieval templates; nil renders with documents=None.
	Documents []any
	// Kwargs are extra template variables (enable_thinking, date_string,
	// ...). They override the special tokens.
	Kwargs map[string]any
	// TemplateName picks a named template ("default", "tool_use", ...);
	// empty applies transformers' choice.
	TemplateName string
	// Now is the clock of strftime_now; nil means time.Now.
	Now func() time.Time
}

// TemplateError is an error raised by the template itself through
// raise_exception, with the template's message.
type TemplateError struct {
	Template string // name of the template that raised it
	Message  string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("chat template %s: %s", e.Template, e.Message)
}

// Template is a loaded chat template (or set of named templates) with the
// special tokens of its tokenizer. It is safe for concurrent use.
type Template struct {
	name      string // where it came from, for errors
	templates map[string]*jinja.Template
	single    bool // one unnamed template (string form)
	specials  map[string]jinja.Value
}

// Load reads the chat template and special tokens of the model directory dir,
// as transformers' tokenizer loading does.
func Load(dir string) (*Template, error) {
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	cfgData, err := boundedfile.Read(cfgPath, maxConfigBytes)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chat: %w", err)
	}
	var cfg map[string]json.RawMessage
	if cfgData != nil {
		if err := json.Unmarshal(cfgData, &cfg); err != nil {
			return nil, fmt.Errorf("chat: %s: %w", cfgPath, err)
		}
	}
	// special_tokens_map.json, when present, wins over tokenizer_config.json.
	smPath := filepath.Join(dir, "special_tokens_map.json")
	if smData, err := boundedfile.Read(smPath, maxConfigBytes); err == nil {
		var sm map[string]json.RawMessage
		if err := json.Unmarshal(smData, &sm); err != nil {
			return nil, fmt.Errorf("chat: %s: %w", smPath, err)
		}
		if cfg == nil {
			cfg = map[string]json.RawMessage{}
		}
		for k, v := range sm {
			cfg[k] = v
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chat: %w", err)
	}
	specials, err := specialTokens(cfg)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", cfgPath, err)
	}

	// Template files take priority over tokenizer_config.json.
	named := map[string]string{}
	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	if data, err := boundedfile.Read(jinjaPath, maxTemplateBytes); err == nil {
		named["default"] = string(data)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chat: %w", err)
	}
	extraDir := filepath.Join(dir, "additional_chat_templates")
	if entries, err := os.ReadDir(extraDir); err == nil {
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".jinja") {
				continue
			}
			data, err := boundedfile.Read(filepath.Join(extraDir, n), maxTemplateBytes)
			if err != nil {
				return nil, fmt.Errorf("chat: %w", err)
			}
			named[strings.TrimSuffix(n, ".jinja")] = string(data)
		}
	}
	if len(named) == 1 && named["default"] != "" {
		return compile(jinjaPath, map[string]string{"": named["default"]}, specials)
	}
	if len(named) > 0 {
		return compile(dir, named, specials)
	}

	raw, ok := cfg["chat_template"]
	if !ok || string(raw) == "null" {
		return nil, fmt.Errorf("chat: %s: no chat template (no chat_template.jinja and no chat_template in tokenizer_config.json)", dir)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return compile(cfgPath, map[string]string{"": s}, specials)
	}
	var list []struct {
		Name     *string `json:"name"`
		Template *string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("chat: %s: chat_template must be a string or a list of {name, template}: %w", cfgPath, err)
	}
	for i, t := range list {
		if t.Name == nil || t.Template == nil {
			return nil, fmt.Errorf("chat: %s: chat_template[%d] needs a name and a template", cfgPath, i)
		}
		named[*t.Name] = *t.Template
	}
	if len(named) == 0 {
		return nil, fmt.Errorf("chat: %s: chat_template is an empty list", cfgPath)
	}
	return compile(cfgPath, named, specials)
}

// New compiles a single template source. name is used in errors; specials
// are template variables such as bos_token.
func New(name, source string, specials map[string]any) (*Template, error) {
	sp := make(map[string]jinja.Value, len(specials))
	for k, v := range specials {
		jv, err := goValue(v)
		if err != nil {
			return nil, fmt.Errorf("chat: special token %s: %w", k, err)
		}
		sp[k] = jv
	}
	return compile(name, map[string]string{"": source}, sp)
}

func compile(name string, sources map[string]string, specials map[string]jinja.Value) (_ *Template, err error) {
	t := &Template{name: name, templates: make(map[string]*jinja.Template, len(sources)), specials: specials}
	_, t.single = sources[""]
	keys := make([]string, 0, len(sources))
	for k := range sources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		jt, err := compileOne(sources[k])
		if err != nil {
			return nil, fmt.Errorf("chat: %s: %w", t.label(k), err)
		}
		t.templates[k] = jt
	}
	return t, nil
}

// compileOne parses a template, turning any panic of the engine on hostile
// input into an error.
func compileOne(src string) (jt *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			jt, err = nil, fmt.Errorf("template parser failed: %v", r)
		}
	}()
	return jinja.Compile(src)
}

func (t *Template) label(key string) string {
	if key == "" {
		return t.name
	}
	return fmt.Sprintf("%s (template %q)", t.name, key)
}

// Names lists the named templates; it is empty for a single template.
func (t *Template) Names() []string {
	if t.single {
		return nil
	}
	names := make([]string, 0, len(t.templates))
	for k := range t.templates {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// pick applies transformers' template choice.
func (t *Template) pick(opts *RenderOptions) (string, *jinja.Template, error) {
	if t.single {
		if opts.TemplateName != "" && opts.TemplateName != "default" {
			return "", nil, fmt.Errorf("chat: %s: no template named %q (it has a single template)", t.name, opts.TemplateName)
		}
		return "", t.templates[""], nil
	}
	name := opts.TemplateName
	if name == "" {
		name = "default"
		if opts.Tools != nil {
			if _, ok := t.templates["tool_use"]; ok {
				name = "tool_use"
			}
		}
	}
	jt, ok := t.templates[name]
	if !ok {
		return "", nil, fmt.Errorf("chat: %s: no template named %q (have %s)", t.name, name, strings.Join(t.Names(), ", "))
	}
	return name, jt, nil
}

// reserved are the variables render() sets itself; kwargs naming them are a
// TypeError in Python ("got multiple values for keyword argument").
var reserved = map[string]bool{"messages": true, "tools": true, "documents": true, "add_generation_prompt": true}

// Render renders messages with the template.
func (t *Template) Render(messages []Message, opts RenderOptions) (string, error) {
	key, jt, err := t.pick(&opts)
	if err != nil {
		return "", err
	}
	label := t.label(key)
	data := make(map[string]jinja.Value, len(t.specials)+len(opts.Kwargs)+6)
	for k, v := range t.specials {
		data[k] = v
	}
	for k, v := range opts.Kwargs {
		if reserved[k] {
			return "", fmt.Errorf("chat: %s: kwarg %q collides with a template argument", label, k)
		}
		jv, err := goValue(v)
		if err != nil {
			return "", fmt.Errorf("chat: %s: kwarg %s: %w", label, k, err)
		}
		data[k] = jv
	}
	msgs := make([]jinja.Value, len(messages))
	for i, m := range messages {
		v, err := decodeJSON(m)
		if err != nil {
			return "", fmt.Errorf("chat: %s: message %d: %w", label, i, err)
		}
		msgs[i] = v
	}
	data["messages"] = jinja.NewList(msgs)
	if data["tools"], err = listValue(opts.Tools); err != nil {
		return "", fmt.Errorf("chat: %s: tools: %w", label, err)
	}
	if data["documents"], err = listValue(opts.Documents); err != nil {
		return "", fmt.Errorf("chat: %s: documents: %w", label, err)
	}
	data["add_generation_prompt"] = jinja.NewBool(opts.AddGenerationPrompt)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Globals a kwarg has not replaced (render kwargs shadow env globals in
	// Jinja2 too).
	if _, ok := data["strftime_now"]; !ok {
		data["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || len(kwargs) != 0 || !args[0].IsString() {
				return jinja.Undefined(), errors.New("strftime_now takes one format string")
			}
			return jinja.NewString(Strftime(now(), args[0].AsString())), nil
		})
	}
	if _, ok := data["raise_exception"]; !ok {
		data["raise_exception"] = jinja.NewCallable("raise_exception", func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || len(kwargs) != 0 {
				return jinja.Undefined(), errors.New("raise_exception takes exactly one argument (message)")
			}
			return jinja.Undefined(), &TemplateError{Template: label, Message: pyStrOf(args[0])}
		})
	}
	out, err := renderSafe(jt, data)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			return "", te
		}
		return "", fmt.Errorf("chat: %s: %w", label, err)
	}
	return out, nil
}

// renderSafe runs the engine, turning a panic on hostile input into an error.
func renderSafe(jt *jinja.Template, data map[string]jinja.Value) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("template engine failed: %v", r)
		}
	}()
	return jt.RenderValues(data)
}

func listValue(items []any) (jinja.Value, error) {
	if items == nil {
		return jinja.None(), nil
	}
	vals := make([]jinja.Value, len(items))
	for i, it := range items {
		v, err := goValue(it)
		if err != nil {
			return jinja.Undefined(), fmt.Errorf("item %d: %w", i, err)
		}
		vals[i] = v
	}
	return jinja.NewList(vals), nil
}

// pyStrOf is str() of a value, as raise_exception's message.
func pyStrOf(v jinja.Value) string {
	if v.IsString() {
		return v.AsString()
	}
	return jinja.PyStr(v)
}

// specialTokens returns the template variables transformers takes from a
// tokenizer config (its special_tokens_map): bos_token, eos_token, unk_token,
// sep_token, pad_token, cls_token, mask_token and additional_special_tokens,
// each only when set and non-empty. Tokens may be strings or serialized
// AddedToken objects ({"content": ...}).
func specialTokens(cfg map[string]json.RawMessage) (map[string]jinja.Value, error) {
	out := map[string]jinja.Value{}
	for _, attr := range []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"} {
		raw, ok := cfg[attr]
		if !ok {
			continue
		}
		s, err := tokenString(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", attr, err)
		}
		if s != "" {
			out[attr] = jinja.NewString(s)
		}
	}
	if raw, ok := cfg["additional_special_tokens"]; ok && string(raw) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("additional_special_tokens: %w", err)
		}
		if len(list) > 0 {
			items := make([]jinja.Value, len(list))
			for i, r := range list {
				s, err := tokenString(r)
				if err != nil {
					return nil, fmt.Errorf("additional_special_tokens[%d]: %w", i, err)
				}
				items[i] = jinja.NewString(s)
			}
			out["additional_special_tokens"] = jinja.NewList(items)
		}
	}
	return out, nil
}

func tokenString(raw json.RawMessage) (string, error) {
	if string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var tok struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Content == nil {
		return "", errors.New("want a string or an object with a content string")
	}
	return *tok.Content, nil
}

// ParseMessages splits a JSON array of messages (as in a ShareGPT/OpenAI
// conversation file) into Messages, keeping each one's bytes.
func ParseMessages(data []byte) ([]Message, error) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(data, &msgs); err != nil {
		return nil, fmt.Errorf("chat: messages must be a JSON array: %w", err)
	}
	return msgs, nil
}
