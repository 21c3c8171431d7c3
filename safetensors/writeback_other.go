//go:build !linux

package safetensors

import "os"

func startWriteback(f *os.File, off, n int64) {}
