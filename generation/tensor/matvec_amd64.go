//go:build amd64 && !purego

package tensor

import "unsafe"

//go:noescape
func matvecQ4_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)

//go:noescape
func matvecQ5_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)

//go:noescape
func matvecQ8_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)

// q8MatVecKernels returns the decode kernels of the active kernel family.
func q8MatVecKernels() map[DType]q8MatVecFunc {
	if !hasVNNI {
		return nil
	}
	return map[DType]q8MatVecFunc{Q4_0: matvecQ4_0, Q5_0: matvecQ5_0, Q8_0: matvecQ8_0}
}

// matvecQ4_0 is the Q4_0 decode kernel. Rows whose block count is not a
// multiple of four go to dotQ4_0VNNI, which handles the last blocks one by
// one.
func matvecQ4_0(w []byte, rowBytes int, x []byte, side []int32, cols int, dst []float32) {
	rows, nb := len(dst), cols/QK
	if rows == 0 {
		return
	}
	// The kernels trust their pointers: check the last bytes they read.
	_, _ = w[rows*rowBytes-1], x[nb*34-1]
	if nb%4 != 0 {
		dotQ4_0VNNI(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), nb, unsafe.SliceData(dst), rows)
		return
	}
	_ = side[4*nb-1]
	matvecQ4_0VNNI(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), unsafe.SliceData(side), nb/4, unsafe.SliceData(dst), rows)
}

// matvecQ5_0 is the Q5_0 decode kernel, with dotQ5_0VNNI for rows whose
// block count is not a multiple of four.
func matvecQ5_0(w []byte, rowBytes int, x []byte, side []int32, cols int, dst []float32) {
	rows, nb := len(dst), cols/QK
	if rows == 0 {
		return
	}
	_, _ = w[rows*rowBytes-1], x[nb*34-1]
	if nb%4 != 0 {
		dotQ5_0VNNI(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), nb, unsafe.SliceData(dst), rows)
		return
	}
	_ = side[4*nb-1]
	matvecQ5_0VNNI(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), unsafe.SliceData(side), nb/4, unsafe.SliceData(dst), rows)
}

// matvecQ8_0 is the Q8_0 decode kernel, with dotQ8_0VNNI for rows whose
// block count is not a multiple of four.
func matvecQ8_0(w []byte, rowBytes int, x []byte, side []int32, cols int, dst []float32) {
	rows, nb := len(dst), cols/QK
	if rows == 0 {
		return
	}
	_, _ = w[rows*rowBytes-1], x[nb*34-1]
	if nb%4 != 0 {
		dotQ8_0VNNI(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), nb, unsafe.SliceData(dst), rows)
		return
	}
	_ = side[4*nb-1]
	matvecQ8_0VNNI(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), unsafe.SliceData(side), nb/4, unsafe.SliceData(dst), rows)
}
