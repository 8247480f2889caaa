//go:build unix

package tensor

import (
	"runtime"
	"syscall"
)

// allocStrips returns n zeroed bytes for m's row-interleaved copy, mapped
// outside the Go heap: a copy as large as the model inside the heap would
// let the garbage collector wait for that much garbage before it ran (its
// goal is proportional to the live heap), which a decode makes quickly
// (a vocabulary of logits per token). The mapping is returned to the
// system once m is unreachable, or by m.freeStrips.
func allocStrips(m *Matrix, n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n)
	}
	// Huge pages where the system grants them: fewer TLB misses in a
	// stream of hundreds of MiB. Best effort.
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE
	unmap := func(b []byte) { _ = syscall.Munmap(b) }
	c := runtime.AddCleanup(m, unmap, b)
	m.freeStrips = func() {
		c.Stop()
		unmap(b)
	}
	return b
}
