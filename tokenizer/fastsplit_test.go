package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// TestCharClasses checks the classes behind the fast matchers against
// regexp2 itself, for every code point.
func TestCharClasses(t *testing.T) {
	if testing.Short() {
		t.Skip("walks all of Unicode")
	}
	classes := []struct {
		re   string
		mask uint8
	}{{`^\s$`, clsS}, {`^\p{L}$`, clsL}, {`^\p{N}$`, clsN},
		{`^[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]$`, clsU}, {`^[\p{Ll}\p{Lm}\p{Lo}\p{M}]$`, clsW}}
	for _, c := range classes {
		re := regexp2.MustCompile(c.re, regexp2.None)
		for r := rune(0); r <= utf8.MaxRune; r++ {
			if r >= 0xD800 && r <= 0xDFFF {
				continue
			}
			want, err := re.MatchString(string(r))
			if err != nil {
				t.Fatal(err)
			}
			if got := slowClass(r)&c.mask != 0; got != want {
				t.Fatalf("%s on U+%04X: fast %v, regexp2 %v", c.re, r, got, want)
			}
		}
	}
}

// trickyRunes weights the characters the split regexes treat specially.
var trickyRunes = []rune("aZé中ß1٣½ \t\n\r\v\f\u0085\u00a0\u2028\u3000\ufeff'sStTrReEvVmMlLdD!?.-_/\u0301\u0308😀\u200dſKǅʰ")

func randomTricky(r *rand.Rand, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteRune(trickyRunes[r.IntN(len(trickyRunes))])
	}
	return sb.String()
}

var slowMatchers sync.Map // pattern -> *regexMatcher

func checkFastMatcher(t *testing.T, pat, s string) {
	t.Helper()
	fast := fastMatcherFor(pat)
	m, ok := slowMatchers.Load(pat)
	if !ok {
		m, _ = slowMatchers.LoadOrStore(pat, &regexMatcher{re: regexp2.MustCompile(pat, regexp2.None)})
	}
	slow := m.(*regexMatcher)
	var sc scratch
	got := fast.find(&sc, s, nil)
	want := slow.find(&sc, s, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("%q: fast spans %v, regexp2 %v", s, got, want)
	}
}

// TestFastMatchers compares the hand-written matchers with regexp2 on random
// strings of tricky characters.
func TestFastMatchers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, pat := range []string{patLlama3, patQwen2, gpt2Pattern, patO200k} {
		if fastMatcherFor(pat) == nil {
			t.Fatalf("no fast matcher for %q", pat)
		}
		for range n {
			checkFastMatcher(t, pat, randomTricky(r, 1+r.IntN(24)))
		}
	}
}

func FuzzFastMatchers(f *testing.F) {
	for _, s := range []string{"", "Hello world", "it's 'LL  \n\n x", "123456 ١٢٣", " \t\r\n ", "a\u0085 b\ufeff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = validUTF8(s)
		for _, pat := range []string{patLlama3, patQwen2, gpt2Pattern, patO200k} {
			checkFastMatcher(t, pat, s)
		}
	})
}
