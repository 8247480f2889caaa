//go:build amd64 && !purego

package tensor

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasVNNI reports whether the AVX-512 kernels may run: VPDPBUSD on 256-bit
// registers (AVX512VNNI, VL) and byte-masked operations (AVX512BW).
var hasVNNI = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

// hasAVX2 reports whether the AVX2 kernels may run: they also use FMA and
// F16C (for the f16 block scales).
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

//go:noescape
func dotQ8_0AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ4_0AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ5_0AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ8_0VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ4_0VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ5_0VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ4_1AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ5_1AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ4_1VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ5_1VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ4KAVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ5KAVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ5KAVX512(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ6KAVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ4KVNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotQ6KVNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

//go:noescape
func dotRowsF32AVX2(x, m *float32, stride, n int, dst *float32, rows int)

//go:noescape
func weightedSumF32AVX2(dst, m *float32, stride, n int, w *float32, rows int, add int)

//go:noescape
func dotF16AVX2(w *uint16, x *float32, n int) float32

//go:noescape
func dotBF16AVX2(w *uint16, x *float32, n int) float32

//go:noescape
func streamReadAVX2(p *byte, n int) uint64

// kernelVariants lists the assembly kernel families this CPU can run, in
// increasing preference; each overrides some of the reference kernels.
func kernelVariants() []kernelVariant {
	var vs []kernelVariant
	if hasAVX2 {
		vs = append(vs, kernelVariant{"avx2", map[DType]rowsFunc{
			Q8_0: blockRows(dotQ8_0AVX2, QK),
			Q4_0: blockRows(dotQ4_0AVX2, QK),
			Q5_0: blockRows(dotQ5_0AVX2, QK),
			Q4_1: blockRows(dotQ4_1AVX2, QK),
			Q5_1: blockRows(dotQ5_1AVX2, QK),
			Q4_K: blockRows(dotQ4KAVX2, QKK),
			Q5_K: blockRows(dotQ5KAVX2, QKK),
			Q6_K: blockRows(dotQ6KAVX2, QKK),
			F32: rowsFromDot(func(w, x []byte, n int) float32 {
				return dotFloat32(bytesFloat32(w, n), bytesFloat32(x, n))
			}),
			F16: rowsFromDot(func(w, x []byte, n int) float32 {
				return halfDot(dotF16AVX2, F16ToF32, bytesUint16(w, n), bytesFloat32(x, n))
			}),
			BF16: rowsFromDot(func(w, x []byte, n int) float32 {
				return halfDot(dotBF16AVX2, BF16ToF32, bytesUint16(w, n), bytesFloat32(x, n))
			}),
		}})
	}
	if hasVNNI {
		vs = append(vs, kernelVariant{"avx512vnni", map[DType]rowsFunc{
			Q8_0: blockRows(dotQ8_0VNNI, QK),
			Q4_0: blockRows(dotQ4_0VNNI, QK),
			Q5_0: blockRows(dotQ5_0VNNI, QK),
			Q4_1: blockRows(dotQ4_1VNNI, QK),
			Q5_1: blockRows(dotQ5_1VNNI, QK),
			Q4_K: blockRows(dotQ4KVNNI, QKK),
			Q5_K: blockRows(dotQ5KAVX512, QKK),
			Q6_K: blockRows(dotQ6KVNNI, QKK),
		}})
	}
	return vs
}

// rowKernel is the signature of the assembly block kernels: rows ≥ 1
// weight rows of nb blocks, rowBytes apart, against one activation row.
type rowKernel func(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)

// blockRows adapts an assembly block kernel to a rowsFunc.
func blockRows(k rowKernel, blockSize int) rowsFunc {
	return func(w []byte, rowBytes int, x []byte, n int, dst []float32) {
		if len(dst) == 0 {
			return
		}
		// The kernel trusts its pointers: check the last bytes it reads.
		_ = w[len(dst)*rowBytes-1]
		_ = x[len(x)-1]
		k(unsafe.SliceData(w), rowBytes, unsafe.SliceData(x), n/blockSize, unsafe.SliceData(dst), len(dst))
	}
}

// halfDot runs an 8-wide 16-bit-float kernel over the multiple-of-8 prefix
// and finishes the tail in Go.
func halfDot(k func(w *uint16, x *float32, n int) float32, conv func(uint16) float32, w []uint16, x []float32) float32 {
	n8 := len(w) &^ 7
	var s float32
	if n8 > 0 {
		s = k(unsafe.SliceData(w), unsafe.SliceData(x), n8)
	}
	for i := n8; i < len(w); i++ {
		s += conv(w[i]) * x[i]
	}
	return s
}

func dotFloat32(a, b []float32) float32 {
	if !hasAVX2 {
		return dotFloat32Ref(a, b)
	}
	n8 := len(a) &^ 7
	var s float32
	if n8 > 0 {
		// One row of the row-dot kernel (its single-row path sums in
		// the order a one-vector kernel would: four accumulators).
		dotRowsF32AVX2(unsafe.SliceData(a), unsafe.SliceData(b), 0, n8, &s, 1)
	}
	for i := n8; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

// weightedSumAdd is WeightedSum (add false) and WeightedSumAdd after their
// checks: the AVX2 kernel (fused multiply-adds, one chain per element)
// over the first len(dst)&^7 columns, the rest in Go.
func weightedSumAdd(dst, m []float32, stride int, w []float32, add bool) {
	n8 := len(dst) &^ 7
	if !hasAVX2 || n8 == 0 {
		weightedSumRef(dst, m, stride, w, add)
		return
	}
	a := 0
	if add {
		a = 1
	}
	weightedSumF32AVX2(unsafe.SliceData(dst), unsafe.SliceData(m), 4*stride, n8, unsafe.SliceData(w), len(w), a)
	if n8 < len(dst) {
		weightedSumRef(dst[n8:], m[n8:], stride, w, add)
	}
}

//go:noescape
func tileScoresAVX2(dst *float32, dstStride int, keys *float32, tileStride, tiles, dim int, q *float32, qStride, heads int)

// tileScores is TileScores after its checks.
func tileScores(dst []float32, dstStride int, keys []float32, tileStride, tiles, dim int, q []float32, qStride, heads int) {
	if !hasAVX2 { // which includes FMA
		tileScoresRef(dst, dstStride, keys, tileStride, tiles, dim, q, qStride, heads)
		return
	}
	tileScoresAVX2(unsafe.SliceData(dst), 4*dstStride, unsafe.SliceData(keys), 4*tileStride, tiles, dim, unsafe.SliceData(q), 4*qStride, heads)
}

// prefetchNTAAsm issues PREFETCHNTA for the n bytes from p.
//
//go:noescape
func prefetchNTAAsm(p *byte, n int)

// prefetchNTA asks for b's cache lines ahead of reading them, non-temporally
// (see STRIP_PF in strips_amd64.s).
func prefetchNTA(b []byte) {
	if len(b) > 0 {
		prefetchNTAAsm(unsafe.SliceData(b), len(b))
	}
}

func streamRead(b []byte) uint64 {
	if !hasAVX2 {
		return streamReadGo(b)
	}
	n := len(b) &^ 255
	var s uint64
	if n > 0 {
		s = streamReadAVX2(unsafe.SliceData(b), n)
	}
	return s ^ streamReadGo(b[n:])
}
