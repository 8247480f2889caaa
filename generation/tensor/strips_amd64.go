//go:build amd64 && !purego

package tensor

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func matvecQ4_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)

//go:noescape
func matvecQ8_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)

//go:noescape
func matvecQ5_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)

//go:noescape
func rebuildQ4_0Strip(strip *byte, nb int, rows *byte, rowBytes int)

//go:noescape
func rebuildQ5_0Strip(strip *byte, nb int, rows *byte, rowBytes int)

//go:noescape
func rebuildQ8_0Strip(strip *byte, nb int, rows *byte, rowBytes int)

func init() {
	if !hasVNNI {
		return
	}
	stripFormats[Q4_0] = &stripFormat{blockBytes: 18, kernel: stripKernelFor(Q4_0, matvecQ4_0StripsVNNI), rebuild: rebuildAsm(rebuildQ4_0Strip)}
	if cpu.X86.HasAVX512BITALG { // VPSHUFBITQMB
		stripFormats[Q5_0] = &stripFormat{blockBytes: 22, pack: packQ5_0, unpack: unpackQ5_0, kernel: stripKernelFor(Q5_0, matvecQ5_0StripsVNNI), rebuild: rebuildAsm(rebuildQ5_0Strip)}
	}
	stripFormats[Q8_0] = &stripFormat{blockBytes: 34, xor: 0x80, kernel: stripKernelFor(Q8_0, matvecQ8_0StripsVNNI), rebuild: rebuildAsm(rebuildQ8_0Strip)}
}

// stripKernelFor wraps an assembly strip kernel of weight type t.
func stripKernelFor(t DType, k func(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)) stripMatVecFunc {
	return func(w, x []byte, side []int32, cols int, dst []float32) {
		checkStrips(t, w, x, side, cols, dst)
		if len(dst) == 0 {
			return
		}
		k(unsafe.SliceData(w), unsafe.SliceData(x), unsafe.SliceData(side), cols/QK/4, unsafe.SliceData(dst), len(dst)/stripRows)
	}
}

// rebuildAsm wraps an assembly strip rebuild (its caller checks bounds).
func rebuildAsm(k func(strip *byte, nb int, rows *byte, rowBytes int)) func([]byte, int, []byte, int) {
	return func(strip []byte, nb int, rows []byte, rowBytes int) {
		if nb > 0 {
			k(unsafe.SliceData(strip), nb, unsafe.SliceData(rows), rowBytes)
		}
	}
}

// stripsExpected reports whether this machine should have a strip format
// for dt (for the tests).
func stripsExpected(dt DType) bool {
	switch dt {
	case Q4_0, Q8_0:
		return hasVNNI
	case Q5_0:
		return hasVNNI && cpu.X86.HasAVX512BITALG
	}
	return false
}
