package dataset

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadArrowFixtures reads Arrow IPC streams written by apache-arrow's
// own writer (testdata/npm/gen_arrow.mjs) and compares every row with the
// values the generator put in.
func TestReadArrowFixtures(t *testing.T) {
	data, err := os.ReadFile("testdata/arrow/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string][]map[string]any
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	for name, want := range expected {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata/arrow", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []map[string]any
			err = readArrowStream(f, func(m map[string]any) error {
				raw, _ := json.Marshal(m)
				var back map[string]any
				json.Unmarshal(raw, &back)
				got = append(got, back)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("rows:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestArrowSource reads the fixtures through ReadFile: rows are detected
// and normalised like any other source.
func TestArrowSource(t *testing.T) {
	var exs []Example
	var probs []Problem
	for _, name := range []string{"sharegpt-train.arrow", "tokens-train.arrow"} {
		if _, err := ReadFile(filepath.Join("testdata/arrow", name), nil, func(e Example) { exs = append(exs, e) },
			func(p Problem) { probs = append(probs, p) }); err != nil {
			t.Fatal(err)
		}
	}
	// sharegpt: a, b, e usable; c empty; d has no conversation. tokens: 3 rows.
	if len(exs) != 6 || len(probs) != 2 {
		t.Fatalf("%d examples, problems %v", len(exs), probs)
	}
	if string(exs[0].Messages[1]) != `{"role":"assistant","content":"Hello!"}` || string(exs[1].Messages[1]) != `{"role":"assistant","content":""}` {
		t.Errorf("messages %s / %s", exs[0].Messages[1], exs[1].Messages[1])
	}
	if !exs[3].Tokenized() || !reflect.DeepEqual(exs[3].LossMask, []int64{0, 1, 1}) || len(exs[5].InputIDs) != 0 {
		t.Errorf("tokenized rows %+v %+v", exs[3], exs[5])
	}
	if probs[0].Reason != ReasonEmpty || probs[0].Loc.Row != 2 || probs[1].Reason != ReasonNoConversation || probs[1].Loc.Row != 3 {
		t.Errorf("problems %v", probs)
	}
}

func TestArrowCorrupt(t *testing.T) {
	data, _ := os.ReadFile("testdata/arrow/sharegpt-train.arrow")
	for _, cut := range []int{0, 3, 8, 100, len(data) / 2, len(data) - 9} {
		err := readArrowStream(bytes.NewReader(data[:cut]), func(map[string]any) error { return nil })
		if err == nil {
			t.Errorf("stream cut at %d bytes: no error", cut)
		}
	}
}

func FuzzReadArrow(f *testing.F) {
	for _, n := range []string{"sharegpt-train.arrow", "tokens-train.arrow", "messages-train.arrow"} {
		data, _ := os.ReadFile(filepath.Join("testdata/arrow", n))
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readArrowStream(bytes.NewReader(data), func(m map[string]any) error {
			_, err := json.Marshal(m)
			return err
		})
	})
}
