//go:build unix

package gguf

import (
	"os"
	"syscall"
)

// mmapFile maps the whole file read-only. ok is false when the file cannot be mapped (empty,
// too large for the address space, or a filesystem without mmap); Open then reads through the
// file instead.
func mmapFile(fh *os.File, size int64) (data []byte, ok bool) {
	if size <= 0 || int64(int(size)) != size {
		return nil, false
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, false
	}
	return data, true
}

// munmap releases a mapping made by mmapFile.
func munmap(data []byte) error {
	return syscall.Munmap(data)
}
