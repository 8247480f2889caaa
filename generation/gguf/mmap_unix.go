//go:build unix

package gguf

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// mapFile maps size bytes of fh read-only. An empty file maps to an empty
// slice (mmap refuses length 0).
func mapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if size < 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file size %d cannot be mapped", size)
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// mapsFiles reports that Open maps files (rather than reading them).
const mapsFiles = true

// releasePages drops the pages wholly inside b, part of a shared read-only
// file mapping, from this process's resident set (MADV_DONTNEED: for such
// a mapping the contents stay, in the page cache).
func releasePages(b []byte) {
	page := os.Getpagesize()
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % uintptr(page)); r != 0 {
		off = page - r
	}
	if off >= len(b) {
		return
	}
	n := (len(b) - off) / page * page
	if n == 0 {
		return
	}
	// Best effort: a failure leaves the pages resident, nothing worse.
	_ = syscall.Madvise(b[off:off+n], syscall.MADV_DONTNEED)
}
