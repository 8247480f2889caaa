//go:build unix

package tensor

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// mapAnon maps n zeroed bytes outside the Go heap, on huge pages where the
// system grants them (fewer TLB misses in a stream of hundreds of MiB, and
// one page fault per 2 MiB instead of per 4 KiB). Best effort: it reports
// an error when the system refuses the mapping.
func mapAnon(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, err
	}
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE
	return b, nil
}

// allocStrips returns n zeroed bytes for m's row-interleaved copy, mapped
// outside the Go heap: a copy as large as the model inside the heap would
// let the garbage collector wait for that much garbage before it ran (its
// goal is proportional to the live heap), which a decode makes quickly
// (a vocabulary of logits per token). The mapping is returned to the
// system once m is unreachable, or by m.freeStrips.
func allocStrips(m *Matrix, n int) []byte {
	b, free := mapOwned(m, n)
	m.freeStrips = free
	return b
}

// mapOwned maps n zeroed bytes (see mapAnon) that are returned to the
// system once owner is unreachable, or at once by free; where the system
// refuses the mapping they are ordinary memory and free does nothing.
func mapOwned[T any](owner *T, n int) (b []byte, free func()) {
	b, free, err := mapCleanup(owner, n)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, free
}

// mapCleanup is mapOwned without the fallback: it reports the error where
// the system refuses the mapping.
func mapCleanup[T any](owner *T, n int) (b []byte, free func(), err error) {
	b, err = mapAnon(n)
	if err != nil {
		return nil, nil, err
	}
	unmap := func(b []byte) { _ = syscall.Munmap(b) }
	c := runtime.AddCleanup(owner, unmap, b)
	return b, func() {
		c.Stop()
		unmap(b)
	}, nil
}

// MapFloat32s returns n zeroed float32s for a long-lived buffer of owner's
// (a KV cache, say), mapped outside the Go heap like the interleaved
// weights, on huge pages where granted, with every page faulted in now:
// a page first touched in the middle of a decode step costs that step the
// fault (tens of µs each on a virtual machine). The mapping is returned to
// the system once owner is unreachable, or at once by free; buf must not
// be used after free.
func MapFloat32s[T any](owner *T, n int) (buf []float32, free func()) {
	if n <= 0 {
		return nil, func() {}
	}
	b, free := mapOwned(owner, 4*n)
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 0
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n), free
}
