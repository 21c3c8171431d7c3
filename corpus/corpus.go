// Package corpus turns the Debian fortunes files (strfile text: entries
// separated by lines holding only "%") into chat conversations for the
// bundled verifier: a user asks for a fortune on a topic (the file name) that
// mentions a keyword, and the assistant answers with one fortune containing
// it. The domain is narrow and the prompts follow four patterns, so a small
// model learns it well and a draft can predict it.
package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Topics are the fortune files used: prose and quotations, no ASCII art.
var Topics = []string{"computers", "science", "literature", "wisdom", "work", "food", "love", "people",
	"education", "law", "medicine", "politics", "sports", "pets", "kids", "humorists", "platitudes",
	"art", "fortunes", "goedel", "linux", "magic", "men-women", "miscellaneous", "news", "paradoxum",
	"songs-poems", "startrek", "tao", "zippy", "cookie", "definitions", "drugs", "riddles", "pratchett"}

// PromptForms are the user turns: the first %s is the topic (dashes as
// " and "), the second a keyword of the answer (Keyword), so that every
// conversation has its own prompt and held-out prompts are new to the model.
var PromptForms = []string{
	"Tell me a fortune about %s with the word \"%s\".",
	"Give me a quote about %s that mentions %s.",
	"Share some wisdom about %s, something on %s.",
	"What do the fortunes say about %s and %s?",
}

// Keyword is the longest word of letters in text (the first of equal
// length), lowercased; "fortune" when text has no word of 3 letters or more.
func Keyword(text string) string {
	best := ""
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsLetter(r) }) {
		if len(w) > len(best) {
			best = w
		}
	}
	if len(best) < 3 {
		return "fortune"
	}
	return strings.ToLower(best)
}

// Limits on hostile input.
const (
	maxFileBytes  = 64 << 20
	maxEntryBytes = 2000 // longer entries (long poems, lists) are skipped
)

// Conversation is one user prompt and the assistant's fortune.
type Conversation struct {
	Topic    string    `json:"topic"`
	Messages []Message `json:"messages"`
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ReadFortunes returns the entries of one strfile text file, trimmed, with
// tabs expanded and invalid UTF-8 replaced.
func ReadFortunes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("corpus: %s: larger than %d bytes", path, maxFileBytes)
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var out []string
	var cur []string
	flush := func() {
		e := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = cur[:0]
		if e != "" && len(e) <= maxEntryBytes {
			out = append(out, e)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 1<<16), maxFileBytes)
	for sc.Scan() {
		line := strings.TrimRight(strings.ReplaceAll(sc.Text(), "\t", "    "), " \r")
		if line == "%" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	flush()
	return out, nil
}

// Build reads the topic files under dir (missing ones are skipped) and
// returns the conversations in a shuffled order fixed by seed, each with a
// prompt form drawn from PromptForms.
func Build(dir string, seed uint64) ([]Conversation, error) {
	r := rand.New(rand.NewPCG(seed, 0xf0f0))
	var convs []Conversation
	found := 0
	for _, topic := range Topics {
		entries, err := ReadFortunes(filepath.Join(dir, topic))
		if os.IsNotExist(unwrap(err)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found++
		name := strings.ReplaceAll(topic, "-", " and ")
		for _, e := range entries {
			p := fmt.Sprintf(PromptForms[r.IntN(len(PromptForms))], name, Keyword(e))
			convs = append(convs, Conversation{Topic: topic, Messages: []Message{{"user", p}, {"assistant", e}}})
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("corpus: %s: none of the fortune files %v (apt-get install fortunes)", dir, Topics[:3])
	}
	r.Shuffle(len(convs), func(i, j int) { convs[i], convs[j] = convs[j], convs[i] })
	return convs, nil
}

func unwrap(err error) error {
	for err != nil {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		if e := u.Unwrap(); e != nil {
			err = e
		} else {
			return err
		}
	}
	return nil
}

// RenderChatML renders a conversation as the ChatML template does, followed by
// the document separator the LM trainer splits on.
func RenderChatML(c Conversation, sep string) string {
	var b strings.Builder
	for _, m := range c.Messages {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	b.WriteString(sep)
	return b.String()
}

// WriteJSONL writes one conversation per line.
func WriteJSONL(w io.Writer, convs []Conversation) error {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	for _, c := range convs {
		if err := e.Encode(c); err != nil {
			return err
		}
	}
	return nil
}
