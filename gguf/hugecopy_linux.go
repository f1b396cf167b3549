package gguf

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvHugepage is MADV_HUGEPAGE; the advice is only a hint (THP may be off).
const madvHugepage = 14

// hugeCopy copies src into a new anonymous mapping advised for huge pages. ok is false when src
// is larger than 90% of the memory available (MemAvailable) or the mapping fails.
func hugeCopy(src []byte) (dst []byte, ok bool) {
	avail, known := memAvailable()
	if !known || uint64(len(src)) > avail/10*9 {
		return nil, false
	}
	dst, err := syscall.Mmap(-1, 0, len(src), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, false
	}
	_ = syscall.Madvise(dst, madvHugepage) // a hint: without it the copy still works
	// Copy in chunks and drop each copied chunk of the file mapping from this process, so that
	// the peak resident set is the model plus one chunk, not twice the model (the file's pages
	// stay in the page cache; src is not read again).
	const chunk = 64 << 20
	for off := 0; off < len(src); off += chunk {
		end := min(off+chunk, len(src))
		copy(dst[off:end], src[off:end])
		_ = syscall.Madvise(src[off:end], syscall.MADV_DONTNEED)
	}
	return dst, true
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes (page cache counts as available:
// the kernel reclaims it).
func memAvailable() (uint64, bool) {
	fh, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
