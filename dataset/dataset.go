// Package dataset turns conversation datasets into training rows for a
// speculator: token ids, a loss mask over the verifier's own assistant
// tokens, and token frequencies over the supervised tokens.
//
// It follows speculators' prepare_data.py (training-spec §1): sources are
// local .json, .jsonl, .parquet and .arrow (Arrow IPC stream, as Hugging
// Face datasets caches and save_to_disk write) files or folders of them, or a
// name:split reference into the local Hugging Face caches; each row is detected as a
// ShareGPT conversation ("conversations" of from/value turns), an
// OpenAI/UltraChat one ("messages" of role/content turns) or a row already
// tokenized ("input_ids" and "loss_mask"). Conversations are normalised
// (§1.2), rendered with the verifier's chat template (locally, or through a
// vLLM /v1/chat/completions/render endpoint) and masked with the
// render-boundary algorithm (§1.3): one row per assistant turn, supervising
// that turn's content and end-of-turn tokens. Rows are clipped and filtered
// (§1.4), shuffled and sampled with a seed (§1.5), and written as Parquet
// with metadata.json and token_freq.pt (Prepare).
//
// No row is dropped silently: every row that cannot be read, and every
// conversation that yields nothing, is counted under a reason with its file
// and line or row.
package dataset

import (
	"encoding/json"
	"fmt"
)

// Location names a source row: the file and its 1-based line (JSON Lines,
// JSON) or 0-based row index (JSON arrays, Parquet).
type Location struct {
	File string
	Line int // 1-based line of the row's start; 0 when unknown
	Row  int // 0-based index of the row in its file
}

func (l Location) String() string {
	if l.Line > 0 {
		return fmt.Sprintf("%s:%d (row %d)", l.File, l.Line, l.Row)
	}
	return fmt.Sprintf("%s: row %d", l.File, l.Row)
}

// Example is one parsed source row: either a normalised conversation or a
// row that is already tokenized.
type Example struct {
	Loc Location

	// Messages is the normalised conversation (training-spec §1.2), each a
	// JSON object with role and content first.
	Messages []json.RawMessage
	// Tools are the row's tool schemas (JSON values), nil when it has none.
	Tools []json.RawMessage

	// InputIDs and LossMask are set for rows already in speculators form.
	InputIDs []int64
	LossMask []int64
}

// Tokenized reports whether the row was already in speculators form.
func (e *Example) Tokenized() bool { return e.InputIDs != nil }

// Reasons under which rows and conversations are counted when they yield no
// training row. Reasons of unreadable input start with "bad_".
const (
	ReasonInvalidJSON     = "bad_json"         // a line or file that is not valid JSON
	ReasonInvalidUTF8     = "bad_utf8"         // bytes that are not UTF-8
	ReasonNotObject       = "bad_row_type"     // a row that is not a JSON object
	ReasonNoConversation  = "bad_no_data"      // no conversations, messages, nor input_ids/loss_mask
	ReasonBadField        = "bad_field_type"   // a field of the wrong JSON type
	ReasonBadTokens       = "bad_tokens"       // input_ids/loss_mask not integer lists, or mask not 0/1
	ReasonLengthMismatch  = "bad_length"       // len(input_ids) != len(loss_mask)
	ReasonInlineMedia     = "bad_inline_media" // base64 or inline image/audio/video content
	ReasonEmpty           = "empty_conversation"
	ReasonMultimodal      = "multimodal_needs_endpoint" // media parts without --render-endpoint
	ReasonRenderError     = "render_error"              // the template or endpoint failed
	ReasonBoundary        = "boundary_unstable"         // renders diverge inside history (§1.3)
	ReasonNoAssistantTurn = "no_trainable_turn"         // no assistant turn after index 0, or all too long
	ReasonUnsupervised    = "unsupervised"              // a row with no supervised token after clipping (§1.4)
	ReasonFiltered        = "filtered"                  // fewer supervised tokens than --minimum-valid-tokens
)

// Problem is a source row that could not be used.
type Problem struct {
	Loc    Location
	Reason string
	Detail string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s: %s: %s", p.Loc, p.Reason, p.Detail)
}
