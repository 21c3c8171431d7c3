package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
)

// parseRow classifies and normalises one source row. A non-nil Problem means
// the row is unusable.
func parseRow(raw []byte, loc Location, w *Warnings) (Example, *Problem) {
	ex := Example{Loc: loc}
	fail := func(reason, format string, args ...any) (Example, *Problem) {
		return Example{}, &Problem{Loc: loc, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		if t := jsonType(raw); t != "object" {
			return fail(ReasonNotObject, "row is a JSON %s, not an object", t)
		}
		return fail(ReasonInvalidJSON, "%v", err)
	}
	ids, hasIDs := row["input_ids"]
	mask, hasMask := row["loss_mask"]
	if hasIDs && hasMask && !isNull(ids) && !isNull(mask) {
		var err error
		if ex.InputIDs, err = intList(ids); err != nil {
			return fail(ReasonBadTokens, "input_ids: %v", err)
		}
		if ex.LossMask, err = intList(mask); err != nil {
			return fail(ReasonBadTokens, "loss_mask: %v", err)
		}
		if len(ex.InputIDs) != len(ex.LossMask) {
			return fail(ReasonLengthMismatch, "input_ids has %d tokens but loss_mask %d", len(ex.InputIDs), len(ex.LossMask))
		}
		for i, v := range ex.InputIDs {
			if v < 0 || v > 1<<31 {
				return fail(ReasonBadTokens, "input_ids[%d] = %d is not a token id", i, v)
			}
		}
		for i, v := range ex.LossMask {
			if v != 0 && v != 1 {
				return fail(ReasonBadTokens, "loss_mask[%d] = %d, want 0 or 1", i, v)
			}
		}
		if ex.InputIDs == nil {
			ex.InputIDs, ex.LossMask = []int64{}, []int64{}
		}
		return ex, nil
	}
	conv, key := row["conversations"], "conversations"
	if conv == nil || isNull(conv) {
		conv, key = row["messages"], "messages"
	}
	if conv == nil || isNull(conv) {
		keys := make([]string, 0, len(row))
		for k := range row {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return fail(ReasonNoConversation, "row has no conversations, messages, or input_ids/loss_mask (keys %v)", keys)
	}
	var turns []json.RawMessage
	if err := json.Unmarshal(conv, &turns); err != nil {
		return fail(ReasonBadField, "%s is a JSON %s, not a list of turns", key, jsonType(conv))
	}
	if len(turns) == 0 {
		return fail(ReasonEmpty, "%s is empty", key)
	}
	for i, t := range turns {
		m, err := normalizeTurn(t, w)
		if err != nil {
			reason := ReasonBadField
			if ie, ok := err.(inlineMediaError); ok {
				reason, err = ReasonInlineMedia, ie.err
			}
			return fail(reason, "%s[%d]: %v", key, i, err)
		}
		ex.Messages = append(ex.Messages, m)
	}
	if tools, ok := row["tools"]; ok {
		ex.Tools = parseTools(tools, loc, w)
	}
	return ex, nil
}

type inlineMediaError struct{ err error }

func (e inlineMediaError) Error() string { return e.err.Error() }

// normalizeTurn applies training-spec §1.2 to one turn and returns the
// message with keys in the order role, content, tool_calls, tool_call_id,
// thinking, reasoning_content.
func normalizeTurn(raw json.RawMessage, w *Warnings) (json.RawMessage, error) {
	var t map[string]json.RawMessage
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("turn is a JSON %s, not an object", jsonType(raw))
	}
	// Role: from, else role; Python's turn.get("from", turn.get("role", "")).
	var role string
	roleRaw, ok := t["from"]
	if !ok {
		roleRaw, ok = t["role"]
	}
	if ok {
		if err := json.Unmarshal(roleRaw, &role); err != nil {
			return nil, fmt.Errorf("role is a JSON %s, not a string", jsonType(roleRaw))
		}
	}
	switch role {
	case "human", "user":
		role = "user"
	case "gpt", "assistant":
		role = "assistant"
	case "system", "tool":
	default:
		w.unknownRole(role)
		role = "assistant"
	}
	// Content: value or content or "" (Python truthiness).
	var content json.RawMessage
	for _, k := range []string{"value", "content"} {
		if v, ok := t[k]; ok && truthy(v) {
			content = v
			break
		}
	}
	if content == nil {
		content = json.RawMessage(`""`)
	}
	switch jsonType(content) {
	case "string":
	case "array":
		var err error
		if content, err = adaptParts(content); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("content is a JSON %s, not a string or a list of parts", jsonType(content))
	}
	var b bytes.Buffer
	b.WriteString(`{"role":`)
	writeJSON(&b, role)
	b.WriteString(`,"content":`)
	b.Write(content)
	for _, k := range []string{"tool_calls", "tool_call_id"} {
		if v, ok := t[k]; ok && truthy(v) {
			fmt.Fprintf(&b, `,%q:`, k)
			b.Write(v)
		}
	}
	var thinking json.RawMessage
	for _, k := range []string{"thinking", "reasoning_content"} {
		if v, ok := t[k]; ok && truthy(v) {
			thinking = v
			break
		}
	}
	if thinking != nil {
		b.WriteString(`,"thinking":`)
		b.Write(thinking)
		b.WriteString(`,"reasoning_content":`)
		b.Write(thinking)
	}
	b.WriteByte('}')
	return json.RawMessage(b.Bytes()), nil
}

// adaptParts rewrites a list of content parts as vLLM expects them
// (speculators' _adapt_part_for_vllm): strings become text parts; media with
// a path becomes a file:// URL part; media with a url is forwarded; inline or
// base64 media is refused.
func adaptParts(content json.RawMessage) (json.RawMessage, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(content, &parts); err != nil {
		return nil, err
	}
	out := make([]any, 0, len(parts))
	for i, p := range parts {
		var s string
		if json.Unmarshal(p, &s) == nil {
			out = append(out, orderedPart{{"type", "text"}, {"text", s}})
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(p, &m); err != nil {
			return nil, fmt.Errorf("content part %d is a JSON %s", i, jsonType(p))
		}
		var typ string
		json.Unmarshal(m["type"], &typ)
		switch typ {
		case "text":
			var text string
			if err := json.Unmarshal(m["text"], &text); err != nil {
				return nil, fmt.Errorf("content part %d: text is not a string", i)
			}
			out = append(out, orderedPart{{"type", "text"}, {"text", text}})
		case "image", "video", "audio":
			var path, url string
			json.Unmarshal(m["path"], &path)
			json.Unmarshal(m["url"], &url)
			switch {
			case path != "":
				abs, err := filepath.Abs(path)
				if err != nil {
					return nil, err
				}
				url = "file://" + abs
			case url != "":
			case truthy(m["base64"]) || truthy(m[typ]):
				return nil, inlineMediaError{fmt.Errorf("content part %d: inline %s data is not supported; give a path or url", i, typ)}
			default:
				return nil, fmt.Errorf("content part %d: %s part has no path or url", i, typ)
			}
			key := typ + "_url"
			out = append(out, orderedPart{{"type", key}, {key, orderedPart{{"url", url}}}})
		default:
			return nil, fmt.Errorf("content part %d has unknown type %q", i, typ)
		}
	}
	var b bytes.Buffer
	writeJSON(&b, out)
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n")), nil
}

// orderedPart is a JSON object that keeps its key order.
type orderedPart [][2]any

func (o orderedPart) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, kv[0])
		b.WriteByte(':')
		writeJSON(&b, kv[1])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // values here always marshal
	if n := b.Len(); n > 0 && b.Bytes()[n-1] == '\n' {
		b.Truncate(n - 1)
	}
}

// parseTools reads the tools column: a list, or a JSON string holding one
// (speculators' _parse_conv_tools). Anything else is a warning and the row
// goes on without tools, as in Python.
func parseTools(raw json.RawMessage, loc Location, w *Warnings) []json.RawMessage {
	if !truthy(raw) {
		return nil
	}
	if jsonType(raw) == "string" {
		var s string
		json.Unmarshal(raw, &s)
		raw = json.RawMessage(s)
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(raw, &tools); err != nil {
		w.add(fmt.Sprintf("%s: tools is not a JSON list (%v); rendering without tools", loc, err))
		return nil
	}
	return tools
}

// truthy is Python's bool() of a JSON value.
func truthy(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0, string(v) == "null", string(v) == "false", string(v) == `""`, string(v) == "0":
		return false
	case v[0] == '[' || v[0] == '{':
		return len(bytes.TrimSpace(v[1:len(v)-1])) > 0
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		var f float64
		json.Unmarshal(v, &f)
		return f != 0
	}
	return true
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func jsonType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "empty value"
	}
	switch c := v[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "bool"
	case c == 'n':
		return "null"
	default:
		return "number"
	}
}

// intList decodes a JSON list of integers.
func intList(v json.RawMessage) ([]int64, error) {
	var out []int64
	if err := json.Unmarshal(v, &out); err != nil {
		var floats []float64
		if json.Unmarshal(v, &floats) == nil {
			return nil, fmt.Errorf("holds non-integer numbers")
		}
		return nil, fmt.Errorf("is a JSON %s, not a list of integers", jsonType(v))
	}
	return out, nil
}

// Warnings collects non-fatal findings, each printed once.
type Warnings struct {
	mu    sync.Mutex
	roles map[string]int
	msgs  []string
}

func (w *Warnings) unknownRole(role string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.roles == nil {
		w.roles = map[string]int{}
	}
	w.roles[role]++
}

func (w *Warnings) add(msg string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) < 1000 {
		w.msgs = append(w.msgs, msg)
	}
}

// UnknownRoles returns how many turns of each unknown role were mapped to
// assistant (training-spec §1.2: model names in on-policy data).
func (w *Warnings) UnknownRoles() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.roles)
}

// Messages returns the other warnings (at most 1000).
func (w *Warnings) Messages() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}
