// Package boundedfile reads small files (configs, manifests, templates)
// whose size an untrusted writer controls, refusing any larger than the
// caller allows instead of reading them whole.
package boundedfile

import (
	"fmt"
	"io"
	"os"
)

// Read returns the contents of path, or an error naming path when it holds
// more than limit bytes. Errors from opening the file are returned as they
// are (errors.Is(err, fs.ErrNotExist) works).
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
