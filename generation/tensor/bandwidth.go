package tensor

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// sink keeps benchmark reads from being optimised away.
var sink atomic.Uint64

// streamReadGo XORs b's 8-byte words (a scalar streaming read).
func streamReadGo(b []byte) uint64 {
	var a0, a1, a2, a3 uint64
	for len(b) >= 32 {
		a0 ^= binary.LittleEndian.Uint64(b)
		a1 ^= binary.LittleEndian.Uint64(b[8:])
		a2 ^= binary.LittleEndian.Uint64(b[16:])
		a3 ^= binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for _, v := range b {
		a0 ^= uint64(v)
	}
	return a0 ^ a1 ^ a2 ^ a3
}

// ReadBandwidth streams every byte of bufs once, split evenly over
// Threads() threads with the fastest read loop available, passes times,
// and returns the best rate in 10⁹ bytes per second. Given a model's
// weights it measures how fast this machine can read exactly the bytes a
// decode step reads (mapped file pages included), which is the ceiling a
// memory-bound decode is held to.
func ReadBandwidth(bufs [][]byte, passes int) float64 {
	var total int
	for _, b := range bufs {
		total += len(b)
	}
	th := max(1, Threads())
	if total == 0 {
		return 0
	}
	// parts[k] lists the pieces of bufs that thread k reads: bytes
	// [k·total/th, (k+1)·total/th) of their concatenation.
	parts := make([][][]byte, th)
	k, off, end := 0, 0, total/th
	for _, b := range bufs {
		for len(b) > 0 {
			for off == end && k < th-1 {
				k, end = k+1, (k+2)*total/th
			}
			n := min(len(b), end-off)
			if k == th-1 {
				n = len(b)
			}
			parts[k] = append(parts[k], b[:n])
			b, off = b[n:], off+n
		}
	}
	best := 0.0
	for range max(1, passes) {
		start := time.Now()
		var wg sync.WaitGroup
		for k := range th {
			wg.Go(func() {
				var s uint64
				for _, p := range parts[k] {
					s ^= streamRead(p)
				}
				sink.Add(s)
			})
		}
		wg.Wait()
		if d := time.Since(start).Seconds(); d > 0 {
			best = max(best, float64(total)/d/1e9)
		}
	}
	return best
}
