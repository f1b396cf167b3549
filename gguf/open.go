package gguf

import (
	"bytes"
	"fmt"
	"os"
)

// Open opens, parses and validates the GGUF file at path. On unix the file is memory-mapped and
// TensorData returns views of the mapping; elsewhere (or when mapping fails) tensors are read
// through the open file. Close releases either.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("gguf: %s: not a regular file", path)
	}
	if data, ok := mmapFile(fh, size); ok {
		// The mapping stays valid after the descriptor is closed.
		fh.Close()
		f, err := parse(bytes.NewReader(data), size, path)
		if err != nil {
			munmap(data)
			return nil, err
		}
		f.mapped = data
		f.closer = func() error { return munmap(data) }
		return f, nil
	}
	f, err := parse(fh, size, path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.src = fh
	f.closer = fh.Close
	return f, nil
}
