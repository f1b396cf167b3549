//go:build !unix

package gguf

import "os"

// mmapFile never maps on platforms without syscall.Mmap: Open reads through the file instead.
func mmapFile(*os.File, int64) ([]byte, bool) { return nil, false }

// munmap is never called on these platforms, since mmapFile never maps.
func munmap([]byte) error { return nil }
