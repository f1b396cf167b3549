//go:build !linux

package gguf

// hugeCopy does not copy outside Linux: Load keeps the file mapping (see Load).
func hugeCopy([]byte) ([]byte, bool) { return nil, false }
