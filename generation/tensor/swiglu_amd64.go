//go:build amd64 && !purego

package tensor

import "unsafe"

//go:noescape
func swigluAVX2(gate, up *float32, n int)

// swigluRange is swigluRef, eight lanes at a time on AVX2.
func swigluRange(gate, up []float32) {
	up = up[:len(gate)]
	n8 := len(gate) &^ 7
	if !hasAVX2 || n8 == 0 {
		swigluRef(gate, up)
		return
	}
	swigluAVX2(unsafe.SliceData(gate), unsafe.SliceData(up), n8)
	swigluRef(gate[n8:], up[n8:])
}
