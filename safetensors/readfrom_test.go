package safetensors

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tensor streamed from a file range goes through the ReadFrom fast path;
// the bytes must equal the ones written from memory, and a range longer than
// the tensor must still be refused.
func TestWriteFromFileRange(t *testing.T) {
	dir := t.TempDir()
	payload := make([]byte, 3<<20+12) // larger than one bufio buffer fill, not a multiple of it
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, append([]byte("junkjunk"), payload...), 0o644); err != nil {
		t.Fatal(err)
	}
	shape := []int64{int64(len(payload) / 4)}
	fromFile := func(extra int64) Tensor {
		return Tensor{Name: "w", DType: F32, Shape: shape, Write: func(w io.Writer) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.Seek(8, io.SeekStart); err != nil {
				return err
			}
			_, err = io.Copy(w, io.LimitReader(f, int64(len(payload))+extra))
			return err
		}}
	}
	small := Tensor{Name: "a", DType: BF16, Shape: []int64{3}, Data: []byte{1, 2, 3, 4, 5, 6}}

	streamed := filepath.Join(dir, "streamed.safetensors")
	if err := WriteFile(streamed, []Tensor{small, fromFile(0)}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	inMemory := filepath.Join(dir, "mem.safetensors")
	if err := WriteFile(inMemory, []Tensor{small, {Name: "w", DType: F32, Shape: shape, Data: payload}}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(streamed)
	b, _ := os.ReadFile(inMemory)
	if !bytes.Equal(a, b) {
		t.Fatalf("file-range stream differs from in-memory write (%d vs %d bytes)", len(a), len(b))
	}

	err := WriteFile(filepath.Join(dir, "over.safetensors"), []Tensor{fromFile(0), {Name: "z", DType: F32, Shape: []int64{1}, Data: make([]byte, 4)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// src has no bytes past the payload, so build an overrun from a longer reader.
	over := Tensor{Name: "w", DType: F32, Shape: []int64{2}, Write: func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(strings.NewReader("0123456789abcdef"), 12))
		return err
	}}
	if err := WriteFile(filepath.Join(dir, "bad.safetensors"), []Tensor{over}, nil); err == nil {
		t.Fatal("WriteFile accepted a stream longer than the tensor")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.safetensors")); !os.IsNotExist(err) {
		t.Fatalf("a failed write left bad.safetensors behind: %v", err)
	}
}
