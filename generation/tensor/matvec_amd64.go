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

// decodeKernel wraps a group kernel (whole groups of four blocks per row)
// and the row kernel of the same weight type, which takes rows whose block
// count is not a multiple of four, as a q8MatVecFunc.
func decodeKernel(
	groups func(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int),
	rowsKernel func(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int),
) q8MatVecFunc {
	return func(w []byte, rowBytes int, x []byte, side []int32, cols int, dst []float32) {
		rows, nb := len(dst), cols/QK
		if rows == 0 {
			return
		}
		// The kernels trust their pointers: check the last bytes they read.
		_, _ = w[rows*rowBytes-1], x[nb*34-1]
		if nb%4 != 0 {
			rowsKernel(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), nb, unsafe.SliceData(dst), rows)
			return
		}
		_ = side[4*nb-1]
		groups(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), unsafe.SliceData(side), nb/4, unsafe.SliceData(dst), rows)
	}
}

// The decode kernels of the VNNI family.
var (
	matvecQ4_0 = decodeKernel(matvecQ4_0VNNI, dotQ4_0VNNI)
	matvecQ5_0 = decodeKernel(matvecQ5_0VNNI, dotQ5_0VNNI)
	matvecQ8_0 = decodeKernel(matvecQ8_0VNNI, dotQ8_0VNNI)
)
