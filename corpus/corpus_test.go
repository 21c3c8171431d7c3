package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func write(t testing.TB, dir, name, s string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadFortunes(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "computers", "First one.\n\t-- Someone\n%\n%\nSecond\nline \n%\n"+strings.Repeat("x", maxEntryBytes+1)+"\n%\nlast \xff")
	got, err := ReadFortunes(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"First one.\n    -- Someone", "Second\nline", "last \uFFFD"}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// Fuzz regression: a line " %" is text (strfile separates only on "%"), so
// the entry is "%".
func TestReadFortunesSpacedPercent(t *testing.T) {
	got, err := ReadFortunes(write(t, t.TempDir(), "f", " % "))
	if err != nil || len(got) != 1 || got[0] != "%" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "science", "E = mc^2\n%\nEureka!\n")
	write(t, dir, "men-women", "Vive la difference.\n")
	convs, err := Build(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 3 {
		t.Fatalf("%d conversations", len(convs))
	}
	again, _ := Build(dir, 1)
	for i, c := range convs {
		if c.Messages[1].Content != again[i].Messages[1].Content {
			t.Fatal("same seed, different order")
		}
		if c.Topic == "men-women" && !strings.Contains(c.Messages[0].Content, "men and women") {
			t.Errorf("prompt %q", c.Messages[0].Content)
		}
		r := RenderChatML(c, "<|endoftext|>")
		if !strings.HasPrefix(r, "<|im_start|>user\n") || !strings.HasSuffix(r, "<|im_end|>\n<|endoftext|>") {
			t.Errorf("render %q", r)
		}
	}
	for in, want := range map[string]string{"E = mc^2": "fortune", "Vive la difference.": "difference", "Eureka! Yes, a Bath": "eureka", "": "fortune"} {
		if got := Keyword(in); got != want {
			t.Errorf("Keyword(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := Build(t.TempDir(), 1); err == nil {
		t.Fatal("empty dir: no error")
	}
}

func FuzzReadFortunes(f *testing.F) {
	for _, s := range []string{"", "%", "a\n%\nb", "\r\n%\r\n", "\xff%\n\t\t"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		p := write(t, dir, "f", s)
		got, err := ReadFortunes(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			// A line " %" is text, not a separator, so an entry may be "%".
			if e == "" || len(e) > maxEntryBytes || !utf8.ValidString(e) || strings.Contains(e, "\t") {
				t.Fatalf("bad entry %q", e)
			}
		}
	})
}
