package train

import (
	"context"
	"encoding/binary"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tfEvent is the part of a decoded Event this test reads.
type tfEvent struct {
	wall    float64
	step    int64
	version string
	values  map[string]float32
}

// readEvents decodes a TFRecord file of Event protobufs by hand,
// checking both masked CRC-32Cs of every record.
func readEvents(t *testing.T, path string) []tfEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []tfEvent
	for len(data) > 0 {
		if len(data) < 12 {
			t.Fatalf("%d trailing bytes", len(data))
		}
		n := binary.LittleEndian.Uint64(data)
		if got := binary.LittleEndian.Uint32(data[8:]); got != maskedCRC(data[:8]) {
			t.Fatalf("length CRC %x", got)
		}
		rec := data[12 : 12+n]
		if got := binary.LittleEndian.Uint32(data[12+n:]); got != maskedCRC(rec) {
			t.Fatalf("data CRC %x", got)
		}
		data = data[16+n:]
		out = append(out, decodeEvent(t, rec))
	}
	return out
}

func decodeEvent(t *testing.T, b []byte) tfEvent {
	e := tfEvent{values: map[string]float32{}}
	eachField(t, b, func(field int, wire int, v uint64, raw []byte) {
		switch field {
		case 1:
			e.wall = math.Float64frombits(v)
		case 2:
			e.step = int64(v)
		case 3:
			e.version = string(raw)
		case 5:
			eachField(t, raw, func(f int, _ int, _ uint64, val []byte) {
				if f != 1 {
					t.Fatalf("summary field %d", f)
				}
				var tag string
				var x float32
				eachField(t, val, func(f int, _ int, v uint64, raw []byte) {
					switch f {
					case 1:
						tag = string(raw)
					case 2:
						x = math.Float32frombits(uint32(v))
					}
				})
				e.values[tag] = x
			})
		}
	})
	return e
}

// eachField walks a protobuf message: varint (0), fixed64 (1), bytes (2)
// and fixed32 (5) fields.
func eachField(t *testing.T, b []byte, fn func(field, wire int, v uint64, raw []byte)) {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			t.Fatal("bad key varint")
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				t.Fatal("bad varint")
			}
			b = b[n:]
			fn(field, wire, v, nil)
		case 1:
			fn(field, wire, binary.LittleEndian.Uint64(b), nil)
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				t.Fatal("bad length")
			}
			fn(field, wire, 0, b[n:n+int(l)])
			b = b[n+int(l):]
		case 5:
			fn(field, wire, uint64(binary.LittleEndian.Uint32(b)), nil)
			b = b[4:]
		default:
			t.Fatalf("wire type %d", wire)
		}
	}
}

func TestEventWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := NewEventWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 500000000)
	if err := w.Scalars(7, now, map[string]float64{"train/loss": 1.25, "lr/AdamW": 1e-4}, []string{"lr/AdamW", "train/loss", "absent"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	ev := readEvents(t, files[0])
	if len(ev) != 2 || ev[0].version != "brain.Event:2" {
		t.Fatalf("events %+v", ev)
	}
	e := ev[1]
	if e.step != 7 || e.wall != 1700000000.5 || e.values["train/loss"] != 1.25 || e.values["lr/AdamW"] != float32(1e-4) || len(e.values) != 2 {
		t.Errorf("event %+v", e)
	}
}

// TestRunLogs checks that the TensorBoard file of a run holds the
// metrics.jsonl values, and that the PNG is a real plot.
func TestRunLogs(t *testing.T) {
	f := getFixture(t)
	o := tinyOptions(f, t.TempDir())
	o.Epochs = 1
	o.Log = logTo(t)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	tr, val := readMetrics(t, filepath.Join(o.SavePath, "metrics.jsonl"))
	files, _ := filepath.Glob(filepath.Join(o.SavePath, "tensorboard", "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("event files %v", files)
	}
	ev := readEvents(t, files[0])
	var steps []tfEvent
	var vals []tfEvent
	for _, e := range ev[1:] {
		if _, ok := e.values["train/loss"]; ok {
			steps = append(steps, e)
		} else if _, ok := e.values["val/loss_epoch"]; ok {
			vals = append(vals, e)
		}
	}
	if len(steps) != len(tr) || len(vals) != len(val) {
		t.Fatalf("%d step events, %d val events; metrics.jsonl has %d and %d", len(steps), len(vals), len(tr), len(val))
	}
	for i, e := range steps {
		for _, k := range []string{"loss", "full_acc_0", "cond_acc_2"} {
			if want := float32(metric(tr[i], "train", k)); e.values["train/"+k] != want || e.step != int64(i) {
				t.Errorf("step %d %s: event %v at %d, metrics.jsonl %v", i, k, e.values["train/"+k], e.step, want)
			}
		}
	}
	pf, err := os.Open(filepath.Join(o.SavePath, "training_curves.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatal(err)
	}
	colored := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r != g || g != bb {
				colored++
			}
		}
	}
	if colored < 500 {
		t.Errorf("only %d colored pixels in the plot", colored)
	}
}
