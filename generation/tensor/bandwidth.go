package tensor

import (
	"encoding/binary"
	"sync/atomic"
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
