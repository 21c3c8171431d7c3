package models

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/speculators-go/speculators/chat"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/tokenizer"
)

// Thresholds measured on the committed model (go test -v ./models prints the
// values); they leave a margin so a retrained model of the same quality passes
// and a broken one (noise, wrong weights, wrong tokenizer) fails.
const (
	maxHeldOutLoss      = 3.5  // nats per token on 100 held-out conversations (measured 3.254)
	maxHeldOutLossShort = 3.7  // on the first 30 of them, with -short (measured 3.404)
	minRealWordShare    = 0.95 // share of generated words found in the corpus word list (measured 0.993)
	minStoppedShare     = 0.75 // share of prompts whose greedy answer ends with <|im_end|> (measured 8 of 8)
	minWordsPerPrompt   = 5    // words in each greedy answer (measured 9 or more)
	generateMaxTokens   = 96
	heldOutConversions  = 100
)

func loadVerifier(t *testing.T) (*llama.Model, *tokenizer.Tokenizer, *chat.Template) {
	t.Helper()
	m, err := llama.Load(verifierDir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadDir(verifierDir)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.Load(verifierDir)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok, tmpl
}

func encode(tok *tokenizer.Tokenizer, s string) []int32 {
	ids := tok.Encode(s, false)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// On held-out conversations the model's loss is far below both the uniform
// log V and the entropy of the held-out unigram distribution (a model that
// only knew token frequencies).
func TestHeldOutLoss(t *testing.T) {
	m, tok, tmpl := loadVerifier(t)
	n0, limit := heldOutConversions, maxHeldOutLoss
	if testing.Short() {
		n0, limit = 30, maxHeldOutLossShort // the purego build runs the model slowly
	}
	convs := readJSONL[conversation](t, filepath.Join("testdata", "heldout.jsonl"))[:n0]
	var nll float64
	var n int
	freq := map[int32]int{}
	for _, c := range convs {
		text, err := tmpl.Render(toChat(t, c.Messages), chat.RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids := encode(tok, text)
		out, err := m.NewState(1).ForwardSeq(0, ids, llama.ForwardOptions{Logits: llama.LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(ids); i++ {
			z := out.TokenLogits(0, i)
			mx := z[0]
			for _, v := range z {
				mx = max(mx, v)
			}
			var s float64
			for _, v := range z {
				s += math.Exp(float64(v - mx))
			}
			nll += math.Log(s) + float64(mx) - float64(z[ids[i+1]])
			n++
			freq[ids[i+1]]++
		}
	}
	loss := nll / float64(n)
	var ent float64
	for _, k := range freq {
		p := float64(k) / float64(n)
		ent -= p * math.Log(p)
	}
	uniform := math.Log(float64(m.V()))
	t.Logf("held-out loss %.4f nats/token over %d tokens; unigram entropy %.4f; uniform %.4f", loss, n, ent, uniform)
	if loss > limit || loss > ent-1 || loss > 0.5*uniform {
		t.Fatalf("held-out loss %.4f: want ≤ %.2f, ≤ unigram entropy %.4f − 1 and ≤ half of log V %.4f", loss, limit, ent, uniform)
	}
}

func corpusWords(t *testing.T) map[string]bool {
	f, err := os.Open(filepath.Join("testdata", "corpus_words.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w[sc.Text()] = true
	}
	if len(w) < 5000 {
		t.Fatalf("word list has %d words", len(w))
	}
	return w
}

// Greedy answers to in-domain chat prompts are made of real words of the
// corpus, and mostly end their turn.
func TestGreedyGeneration(t *testing.T) {
	m, tok, tmpl := loadVerifier(t)
	words := corpusWords(t)
	eos, err := m.EOS()
	if err != nil {
		t.Fatal(err)
	}
	imEnd, _ := tok.TokenToID("<|im_end|>")
	prompts := []string{
		`Tell me a fortune about computers with the word "program".`, "Give me a quote about love that mentions heart.",
		"Share some wisdom about work, something on money.", "What do the fortunes say about science and experiment?",
		`Tell me a fortune about food with the word "dinner".`, "Give me a quote about politics that mentions government.",
		"Share some wisdom about education, something on school.", "What do the fortunes say about pets and cats?",
	}
	if testing.Short() {
		prompts = prompts[:4]
	}
	var known, total, stopped int
	for _, p := range prompts {
		text, err := tmpl.Render(toChat(t, []chatMessage{{"user", p}}), chat.RenderOptions{AddGenerationPrompt: true})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := llama.Generate(m.NewState(1), encode(tok, text), llama.GenerateOptions{MaxTokens: generateMaxTokens, EOS: eos})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int, len(out))
		for i, id := range out {
			ids[i] = int(id)
		}
		if len(ids) > 0 && ids[len(ids)-1] == imEnd {
			stopped++
		}
		answer := tok.Decode(ids, true)
		ws := strings.FieldsFunc(strings.ToLower(answer), func(r rune) bool { return !unicode.IsLetter(r) || r > unicode.MaxASCII })
		var nw int
		for _, w := range ws {
			if len(w) < 2 {
				continue
			}
			nw++
			if words[w] {
				known++
			}
		}
		total += nw
		t.Logf("%s\n  -> %q", p, answer)
		if nw < minWordsPerPrompt {
			t.Errorf("%q: %d words in %q", p, nw, answer)
		}
	}
	share := float64(known) / float64(max(total, 1))
	t.Logf("%d of %d words in the corpus word list (%.3f); %d of %d answers ended with <|im_end|>", known, total, share, stopped, len(prompts))
	if share < minRealWordShare {
		t.Errorf("only %.3f of generated words are corpus words, want ≥ %.2f", share, minRealWordShare)
	}
	if float64(stopped) < minStoppedShare*float64(len(prompts)) {
		t.Errorf("%d of %d answers ended their turn, want ≥ %.2f of them", stopped, len(prompts), minStoppedShare)
	}
}
