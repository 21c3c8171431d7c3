package train

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// EventWriter writes TensorBoard event files: TFRecords (length, masked
// CRC-32C of the length, an Event protobuf, masked CRC-32C of the data)
// holding scalar summaries. The few protobuf fields are encoded by hand.
type EventWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

// eventFiles numbers the event files of this process, so two runs in one
// second do not collide.
var eventFiles atomic.Int64

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crcTable)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// NewEventWriter creates dir/events.out.tfevents.<unix>.<host> and writes
// the file_version record TensorBoard expects first.
func NewEventWriter(dir string) (*EventWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	now := time.Now()
	name := fmt.Sprintf("events.out.tfevents.%d.%s.%d.%d", now.Unix(), host, os.Getpid(), eventFiles.Add(1))
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	e := &EventWriter{f: f, w: bufio.NewWriter(f)}
	var ev []byte
	ev = appendDouble(ev, 1, wallTime(now))
	ev = appendBytes(ev, 3, []byte("brain.Event:2"))
	if err := e.record(ev); err != nil {
		f.Close()
		return nil, err
	}
	return e, nil
}

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Scalars writes one Event at step with a simple_value per tag.
func (e *EventWriter) Scalars(step int64, t time.Time, values map[string]float64, order []string) error {
	var sum []byte
	for _, tag := range order {
		v, ok := values[tag]
		if !ok {
			continue
		}
		var val []byte
		val = appendBytes(val, 1, []byte(tag))
		val = appendFloat(val, 2, float32(v))
		sum = appendBytes(sum, 1, val)
	}
	var ev []byte
	ev = appendDouble(ev, 1, wallTime(t))
	ev = appendVarintField(ev, 2, uint64(step))
	ev = appendBytes(ev, 5, sum)
	return e.record(ev)
}

func (e *EventWriter) record(data []byte) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], maskedCRC(data))
	e.w.Write(hdr[:])
	e.w.Write(data)
	_, err := e.w.Write(tail[:])
	if err != nil {
		return fmt.Errorf("train: tensorboard: %w", err)
	}
	return nil
}

// Flush pushes buffered events to the file.
func (e *EventWriter) Flush() error { return e.w.Flush() }

// Close flushes and closes the file.
func (e *EventWriter) Close() error {
	err := e.w.Flush()
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	return appendVarint(appendVarint(b, uint64(field)<<3), v)
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|2)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendDouble(b []byte, field int, v float64) []byte {
	b = appendVarint(b, uint64(field)<<3|1)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func appendFloat(b []byte, field int, v float32) []byte {
	b = appendVarint(b, uint64(field)<<3|5)
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}
