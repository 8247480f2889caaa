//go:build amd64 && !purego

package tensor

import "unsafe"

//go:noescape
func matvecQ4_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)

//go:noescape
func deinterleaveQ4_0(strip *byte, nb int, rows *byte, rowBytes int)

func init() {
	if hasAVX2 {
		rebuildStrip = rebuildStripAsm
	}
}

// rebuildStripAsm is rebuildStrip in assembly (AVX2).
func rebuildStripAsm(strip []byte, cols int, rows []byte) {
	rb := RowBytes(Q4_0, cols)
	_, _ = strip[stripRows*rb-1], rows[stripRows*rb-1]
	deinterleaveQ4_0(unsafe.SliceData(strip), cols/QK, unsafe.SliceData(rows), rb)
}

// stripKernel is the strip decode kernel of this machine, nil where there
// is none.
var stripKernel = func() stripMatVecFunc {
	if !hasVNNI {
		return nil
	}
	return func(w, x []byte, side []int32, cols int, dst []float32) {
		checkStrips(w, cols, dst)
		if len(dst) == 0 {
			return
		}
		nb := cols / QK
		_, _ = x[nb*34-1], side[4*nb-1]
		matvecQ4_0StripsVNNI(unsafe.SliceData(w), unsafe.SliceData(x), unsafe.SliceData(side), nb/4, unsafe.SliceData(dst), len(dst)/stripRows)
	}
}()
