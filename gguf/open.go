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

// Load is Open for running a model: after parsing, the file's bytes are copied into memory that
// the kernel can back with 2 MiB pages (unix: anonymous memory advised MADV_HUGEPAGE), and the
// file mapping is released. Token generation reads every weight once per token; through 4 KiB
// page-cache pages the TLB misses cost about a third of that read bandwidth (measured on the
// synthetic Llama-3.2-1B shape, 2 threads: F16 tg 12-14 -> 18-19.5 tok/s, Q8_0 21 -> 29). The
// copy is skipped, keeping the mapping, where there is no mapping or when the file would not fit
// in the memory the system reports available; Load then behaves as Open.
func Load(path string) (*File, error) {
	f, err := Open(path)
	if err != nil || f.mapped == nil {
		return f, err
	}
	if buf, ok := hugeCopy(f.mapped); ok {
		old := f.mapped
		f.mapped = buf
		f.closer = func() error { return munmap(buf) }
		munmap(old)
	}
	return f, nil
}
