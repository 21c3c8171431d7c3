package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speculators-go/speculators/model/eagle3"
	"github.com/speculators-go/speculators/safetensors"
)

func TestBatchesProperties(t *testing.T) {
	lengths := make([]int, 500)
	for i := range lengths {
		lengths[i] = 1 + (i*7919)%900
	}
	lengths[3] = 5000 // longer than T: clipped
	const T = 1024
	for _, R := range []int{1, 2, 3, 8} {
		var counts []int
		seen := map[int]int{}
		for rank := 0; rank < R; rank++ {
			bs := Batches(lengths, T, R, rank, 0, 4)
			counts = append(counts, len(bs))
			for _, b := range bs {
				sum := 0
				for i, j := range b {
					sum += min(lengths[j], T)
					seen[j]++
					if i > 0 && min(lengths[b[i-1]], T) < min(lengths[j], T) {
						t.Fatalf("R=%d: batch not in decreasing length order: %v", R, b)
					}
				}
				if sum > T {
					t.Fatalf("R=%d rank %d: batch of %d tokens > %d", R, rank, sum, T)
				}
			}
		}
		for _, c := range counts {
			if c != counts[0] {
				t.Errorf("R=%d: ranks get %v batches", R, counts)
			}
		}
		for j, n := range seen {
			if n != 1 {
				t.Errorf("R=%d: row %d used %d times", R, j, n)
			}
		}
		if dropped := len(lengths) - len(seen); dropped >= R {
			t.Errorf("R=%d: %d rows dropped, want < R (only the tail)", R, dropped)
		}
	}
	a, b := Batches(lengths, T, 1, 0, 0, 1), Batches(lengths, T, 1, 0, 0, 1)
	c := Batches(lengths, T, 1, 0, 0, 2)
	if !equalBatches(a, b) || equalBatches(a, c) {
		t.Error("the order must depend on the epoch only")
	}
}

func equalBatches(a, b [][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// Training-spec §9 vector 16.
func TestScheduleVectors(t *testing.T) {
	cases := []struct {
		warmSteps          int
		ratio              float64
		total, ep, per     int
		wantWarm, wantTotl int
	}{
		{-1, 0, 0, 5, 20, 1, 100},
		{-1, 0, 1000, 5, 20, 10, 1000},
		{-1, 0.1, 200, 1, 1, 20, 200},
		{0, 0.1, 200, 1, 1, 0, 200},
	}
	for _, c := range cases {
		s, err := ResolveSchedule("linear", c.warmSteps, c.ratio, c.total, c.ep, c.per, 0)
		if err != nil || s.Warmup != c.wantWarm || s.Total != c.wantTotl {
			t.Errorf("%+v: got %+v %v", c, s, err)
		}
	}
	s := Schedule{Type: "linear", Warmup: 10, Total: 110}
	for step, want := range map[int]float64{0: 0, 5: 0.5, 10: 1, 60: 0.5, 110: 0, 200: 0} {
		if got := s.Factor(step); math.Abs(got-want) > 1e-12 {
			t.Errorf("linear(%d) = %g, want %g", step, got, want)
		}
	}
	c := Schedule{Type: "cosine", Warmup: 0, Total: 100, Cycles: 0.5}
	for step, want := range map[int]float64{0: 1, 50: 0.5, 100: 0} {
		if got := c.Factor(step); math.Abs(got-want) > 1e-12 {
			t.Errorf("cosine(%d) = %g, want %g", step, got, want)
		}
	}
	if (Schedule{Type: "none"}).Factor(7) != 1 {
		t.Error("none")
	}
}

// Training-spec §9 vector 17.
func TestSplit(t *testing.T) {
	rows := make([]Row, 12501)
	for i := range rows {
		rows[i].Index = i
	}
	tr, va, err := Split(rows, 0.9)
	if err != nil || len(tr) != 11250 || len(va) != 1251 || va[0].Index != 11250 {
		t.Errorf("split: %d %d %v", len(tr), len(va), err)
	}
	for _, r := range []float64{0, 1, -0.5, math.NaN()} {
		if _, _, err := Split(rows, r); err == nil {
			t.Errorf("ratio %g accepted", r)
		}
	}
}

// TestLoaderShift checks shift_batch and collation (training-spec §9
// vectors 11 and 12) on hidden-state files, and that bad files are skipped.
func TestLoaderShift(t *testing.T) {
	dir := t.TempDir()
	const A, H = 2, 3
	write := func(i int, ids []int64, f func(tok, slot, j int) float32, dt safetensors.DType) {
		S := len(ids)
		v := make([]float32, S*(A+1)*H)
		for tok := 0; tok < S; tok++ {
			for s := 0; s <= A; s++ {
				for j := 0; j < H; j++ {
					v[(tok*(A+1)+s)*H+j] = f(tok, s, j)
				}
			}
		}
		b, _ := safetensors.EncodeFloat32(dt, v)
		tb := make([]byte, 8*S)
		for k, x := range ids {
			tb[8*k] = byte(x)
		}
		err := safetensors.WriteFile(HiddenStatePath(dir, i), []safetensors.Tensor{
			{Name: "hidden_states", DType: dt, Shape: []int64{int64(S), A + 1, H}, Data: b},
			{Name: "token_ids", DType: safetensors.I64, Shape: []int64{int64(S)}, Data: tb}}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	val := func(tok, s, j int) float32 { return float32(100*tok + 10*s + j) }
	write(0, []int64{0, 1, 2, 3, 4}, val, safetensors.BF16)
	write(1, []int64{5, 6, 7}, val, safetensors.F32)
	write(2, []int64{9, 9, 9}, val, safetensors.F32) // token_ids disagree with the row
	rows := []Row{
		{Index: 0, InputIDs: []int64{0, 1, 2, 3, 4}, LossMask: []int64{0, 0, 1, 1, 1}},
		{Index: 2, InputIDs: []int64{1, 2, 3}, LossMask: []int64{0, 1, 1}},
		{Index: 7, InputIDs: []int64{1, 2, 3}, LossMask: []int64{0, 1, 1}}, // no file
		{Index: 1, InputIDs: []int64{5, 6, 7}, LossMask: []int64{1, 1, 1}},
	}
	var warnings []string
	l := &loader{hsDir: dir, A: A, H: H, V: 10, warn: func(f string, a ...any) { warnings = append(warnings, f) }}
	b := eagle3.NewBatch(8, A*H, H)
	if err := l.fill(b, rows); err != nil {
		t.Fatal(err)
	}
	if l.skip != 2 || len(warnings) != 2 {
		t.Errorf("skipped %d, warnings %d", l.skip, len(warnings))
	}
	wantIDs := []int32{1, 2, 3, 4, 6, 7, 0, 0}
	wantMask := []float32{0, 1, 1, 1, 1, 1, 0, 0}
	wantPos := []int32{1, 2, 3, 4, 1, 2, 0, 0}
	wantDoc := []int32{0, 0, 0, 0, 1, 1, -1, -1}
	for i := 0; i < 8; i++ {
		if b.IDs[i] != wantIDs[i] || b.Mask[i] != wantMask[i] || b.Pos[i] != wantPos[i] || b.Doc[i] != wantDoc[i] {
			t.Fatalf("position %d: id %d mask %g pos %d doc %d", i, b.IDs[i], b.Mask[i], b.Pos[i], b.Doc[i])
		}
	}
	// Position 4 is sample 1's token 0 (aux) and token 1 (last layer).
	if b.Aux[4*A*H+1*H+2] != val(0, 1, 2) || b.VerifierLast[4*H+1] != val(1, A, 1) {
		t.Errorf("aux %g last %g", b.Aux[4*A*H+1*H+2], b.VerifierLast[4*H+1])
	}
	// bf16 round trip of sample 0: token 3, slot 0, j 2 = 302 → 302 in bf16.
	if got := b.Aux[3*A*H+2]; got != 302 {
		t.Errorf("bf16 aux = %g", got)
	}
	if b.VerifierLast[3*H] != 400+10*A {
		t.Errorf("last of position 3 = %g, want token 4's", b.VerifierLast[3*H])
	}
	for _, x := range b.Aux[6*A*H:] {
		if x != 0 {
			t.Fatal("padding not zero")
		}
	}
	// Truncation: T = 3 cuts sample 0 after 3 positions.
	b3 := eagle3.NewBatch(3, A*H, H)
	if err := l.fill(b3, rows); err != nil {
		t.Fatal(err)
	}
	if b3.IDs[2] != 3 || b3.Doc[2] != 0 {
		t.Errorf("truncated batch %v %v", b3.IDs, b3.Doc)
	}
}

func TestReadRowsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRows(dir); err == nil || !strings.Contains(err.Error(), "no prepared data") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"complete": false}`), 0o644)
	if _, err := ReadRows(dir); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("incomplete: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"complete": true, "shards": [{"file": "../x.parquet", "rows": 1}]}`), 0o644)
	if _, err := ReadRows(dir); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("escaping shard: %v", err)
	}
}

func TestPyDict(t *testing.T) {
	got := string(pyDict(map[string]float64{"loss_epoch": 0.5, "full_acc_0_epoch": 1, "x": math.NaN()}))
	if want := `{"full_acc_0_epoch": 1.0, "loss_epoch": 0.5, "x": NaN}`; got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

func TestDraftConfigFromVerifier(t *testing.T) {
	f := getFixture(t)
	o := Defaults().Draft
	o.DraftVocabSize = 64
	c, err := DraftConfig(f.verifier, o)
	if err != nil {
		t.Fatal(err)
	}
	l := c.TransformerLayerConfig
	if l.HiddenSize != 64 || l.NumHiddenLayers != 1 || l.VocabSize != 320 || *l.SlidingWindow != 2048 || l.LayerTypes[0] != "sliding_attention" {
		t.Errorf("layer config %+v", l)
	}
	if ids := c.Eagle3.EagleAuxHiddenStateLayerIDs; len(ids) != 3 || ids[0] != 2 || ids[1] != 4 || ids[2] != 5 {
		t.Errorf("aux ids %v", ids)
	}
	if c.SpeculativeTokens() != 3 || c.Eagle3.DraftVocabSize != 64 || !c.Eagle3.NormBeforeResidual {
		t.Errorf("config %+v", c.Eagle3)
	}
	for _, bad := range []func(*DraftOptions){
		func(o *DraftOptions) { o.Arch = "gpt2" },
		func(o *DraftOptions) { o.TargetLayerIDs = []int{1, 99} },
		func(o *DraftOptions) { o.DraftVocabSize = 10000 },
		func(o *DraftOptions) { o.FCNorm = true },
	} {
		oo := o
		bad(&oo)
		if _, err := DraftConfig(f.verifier, oo); err == nil {
			t.Errorf("%+v accepted", oo)
		}
	}
}
