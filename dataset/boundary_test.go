package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// scripted renders prefixes from a table keyed by (prefix length, add
// generation prompt).
type scripted map[[2]int][]int

func (s scripted) Render(_ context.Context, m, _ []json.RawMessage, gen bool) ([]int, error) {
	g := 0
	if gen {
		g = 1
	}
	ids, ok := s[[2]int{len(m), g}]
	if !ok {
		return nil, fmt.Errorf("no render for %d messages gen=%v", len(m), gen)
	}
	return ids, nil
}

func conv(roles ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(roles))
	for i, r := range roles {
		out[i] = json.RawMessage(fmt.Sprintf(`{"role":%q,"content":"m%d"}`, r, i))
	}
	return out
}

// TestBoundarySpecVectors are training-spec §9 vectors 3-7.
func TestBoundarySpecVectors(t *testing.T) {
	ctx := context.Background()
	ua := conv("user", "assistant")
	t.Run("simple", func(t *testing.T) {
		rows, err := BoundaryRows(ctx, scripted{{1, 1}: {1, 2, 3}, {2, 0}: {1, 2, 3, 4, 5}}, ua, nil, 100)
		if err != nil || len(rows) != 1 || !slices.Equal(rows[0].LossMask, []int64{0, 0, 0, 1, 1}) {
			t.Fatalf("rows = %v, err %v; want mask [0 0 0 1 1]", rows, err)
		}
	})
	t.Run("scaffold fallback", func(t *testing.T) {
		r := scripted{{1, 1}: {1, 2, 3, 77}, {1, 0}: {1, 2, 3}, {2, 0}: {1, 2, 3, 4, 5}}
		rows, err := BoundaryRows(ctx, r, ua, nil, 100)
		if err != nil || len(rows) != 1 || !slices.Equal(rows[0].LossMask, []int64{0, 0, 0, 1, 1}) {
			t.Fatalf("rows = %v, err %v; want mask [0 0 0 1 1]", rows, err)
		}
	})
	t.Run("unstable", func(t *testing.T) {
		r := scripted{{1, 1}: {1, 9, 9, 3}, {1, 0}: {1, 9, 9}, {2, 0}: {1, 5, 6, 7}}
		_, err := BoundaryRows(ctx, r, ua, nil, 100)
		if !errors.Is(err, ErrBoundaryUnstable) {
			t.Fatalf("err = %v, want ErrBoundaryUnstable", err)
		}
	})
	t.Run("fan-out", func(t *testing.T) {
		c := conv("assistant", "user", "assistant", "user", "assistant", "user")
		r := scripted{{2, 1}: {1, 2}, {3, 0}: {1, 2, 3}, {4, 1}: {1, 2, 3, 4, 5}, {5, 0}: {1, 2, 3, 4, 5, 6}}
		rows, err := BoundaryRows(ctx, r, c, nil, 100)
		if err != nil || len(rows) != 2 {
			t.Fatalf("got %d rows, err %v; want 2", len(rows), err)
		}
	})
	t.Run("over-length turn", func(t *testing.T) {
		c := conv("user", "assistant", "user", "assistant", "user", "assistant")
		long := make([]int, 12)
		r := scripted{
			{1, 1}: {1, 2}, {2, 0}: {1, 2, 3, 4},
			{3, 1}: long, // turn 3's prompt is 12 >= L tokens: skipped
			{5, 1}: {1, 2, 3, 4}, {6, 0}: {1, 2, 3, 4, 5, 6},
		}
		rows, err := BoundaryRows(ctx, r, c, nil, 10)
		if err != nil || len(rows) != 2 {
			t.Fatalf("got %d rows, err %v; want 2", len(rows), err)
		}
		if !slices.Equal(rows[0].LossMask, []int64{0, 0, 1, 1}) || !slices.Equal(rows[1].LossMask, []int64{0, 0, 0, 0, 1, 1}) {
			t.Errorf("masks %v %v", rows[0].LossMask, rows[1].LossMask)
		}
		r[[2]int{1, 1}] = long
		r[[2]int{5, 1}] = long
		rows, err = BoundaryRows(ctx, r, c, nil, 10)
		if err != nil || len(rows) != 0 {
			t.Errorf("all prompts too long: %d rows, err %v; want none", len(rows), err)
		}
	})
}

// TestClipRow is training-spec §9 vector 8.
func TestClipRow(t *testing.T) {
	for _, tc := range []struct {
		mask    []int64
		min     int
		want    string
		wantLen int
	}{
		{[]int64{0, 0, 0}, 0, ReasonUnsupervised, 3},
		{[]int64{0, 1, 1}, 3, ReasonFiltered, 3},
		{[]int64{0, 1, 1}, 1, "", 3},
		{[]int64{0, 0, 0, 0, 1}, 0, ReasonUnsupervised, 4}, // clipped at L = 4
	} {
		r := Row{InputIDs: make([]int64, len(tc.mask)), LossMask: tc.mask}
		got, reason := ClipRow(r, 4, tc.min)
		if reason != tc.want || len(got.InputIDs) != tc.wantLen {
			t.Errorf("ClipRow(%v, min %d) = %q len %d, want %q len %d", tc.mask, tc.min, reason, len(got.InputIDs), tc.want, tc.wantLen)
		}
	}
}
