package tensor

import (
	"encoding/binary"
	"math"
)

// dotFunc computes the dot product of one encoded weight row of n elements
// with an activation row encoded in the weight type's activation type (see
// activationType).
type dotFunc func(w, x []byte, n int) float32

// activationType is the encoding an activation vector is converted to
// before it meets weights of type t: Q8_0 (Q8_1 for the types with a
// minimum) for the 32-element quants, Q8_K
// for the K-quants, F32 (no conversion) for float weights.
func activationType(t DType) DType {
	switch t {
	case Q4_0, Q5_0, Q8_0:
		return Q8_0
	case Q4_1, Q5_1, Q8_1:
		return Q8_1
	case Q4_K, Q5_K, Q6_K, Q8_K:
		return Q8_K
	default:
		return F32
	}
}

// refDot holds the pure-Go reference kernels, one per supported weight type.
var refDot = map[DType]dotFunc{
	F32:  dotF32Ref,
	F16:  dotF16Ref,
	BF16: dotBF16Ref,
	Q8_0: dotQ8_0Ref,
	Q4_0: dotQ4_0Ref,
	Q5_0: dotQ5_0Ref,
	Q4_1: dotQ4_1Ref,
	Q5_1: dotQ5_1Ref,
	Q8_1: dotQ8_1Ref,
	Q4_K: dotQ4KRef,
	Q5_K: dotQ5KRef,
	Q6_K: dotQ6KRef,
	Q8_K: dotQ8KRef,
}

// rowsFunc computes dst[i] = dot(row i, x) for len(dst) consecutive
// encoded weight rows of n elements, rowBytes apart, starting at w.
type rowsFunc func(w []byte, rowBytes int, x []byte, n int, dst []float32)

// rowsFromDot applies a single-row kernel to each row in turn.
func rowsFromDot(dot dotFunc) rowsFunc {
	return func(w []byte, rowBytes int, x []byte, n int, dst []float32) {
		for i := range dst {
			dst[i] = dot(w[i*rowBytes:(i+1)*rowBytes], x, n)
		}
	}
}

// kernelVariant is a family of optimised kernels (e.g. "avx2") replacing
// some of the references.
type kernelVariant struct {
	name string
	rows map[DType]rowsFunc
}

// activeRows holds the kernels MatVec uses: the references, overridden by
// each kernel variant the CPU supports in turn; kernelName names the last.
var activeRows, kernelName = func() (map[DType]rowsFunc, string) {
	m := make(map[DType]rowsFunc, len(refDot))
	for t, f := range refDot {
		m[t] = rowsFromDot(f)
	}
	name := "purego"
	for _, v := range kernelVariants() {
		for t, f := range v.rows {
			m[t] = f
		}
		name = v.name
	}
	return m, name
}()

func dotF32Ref(w, x []byte, n int) float32 {
	return dotFloat32Ref(bytesFloat32(w, n), bytesFloat32(x, n))
}

func dotF16Ref(w, x []byte, n int) float32 {
	wv, xv := bytesUint16(w, n), bytesFloat32(x, n)
	var s float32
	for i, h := range wv {
		s += F16ToF32(h) * xv[i]
	}
	return s
}

func dotBF16Ref(w, x []byte, n int) float32 {
	wv, xv := bytesUint16(w, n), bytesFloat32(x, n)
	var s float32
	for i, h := range wv {
		s += BF16ToF32(h) * xv[i]
	}
	return s
}

// dotQ8_0Ref: per block, the int8·int8 sum times d_w·d_x.
func dotQ8_0Ref(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QK; b++ {
		wb, xb := w[b*34:], x[b*34:]
		var sumi int32
		for j := range QK {
			sumi += int32(int8(wb[2+j])) * int32(int8(xb[2+j]))
		}
		sum += float32(sumi) * (f16At(wb) * f16At(xb))
	}
	return sum
}

func dotQ4_0Ref(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QK; b++ {
		wb, xb := w[b*18:], x[b*34:]
		var sumi int32
		for j := range QK / 2 {
			q := wb[2+j]
			sumi += int32(int(q&0xf)-8) * int32(int8(xb[2+j]))
			sumi += int32(int(q>>4)-8) * int32(int8(xb[2+j+QK/2]))
		}
		sum += float32(sumi) * (f16At(wb) * f16At(xb))
	}
	return sum
}

func dotQ5_0Ref(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QK; b++ {
		wb, xb := w[b*22:], x[b*34:]
		qh := binary.LittleEndian.Uint32(wb[2:])
		var sumi int32
		for j := range QK / 2 {
			q := wb[6+j]
			q0 := int32(q&0xf|byte(qh>>j&1)<<4) - 16
			q1 := int32(q>>4|byte(qh>>(j+QK/2)&1)<<4) - 16
			sumi += q0*int32(int8(xb[2+j])) + q1*int32(int8(xb[2+j+QK/2]))
		}
		sum += float32(sumi) * (f16At(wb) * f16At(xb))
	}
	return sum
}

// dotQ4_1Ref: per block, Σ q·q8 (q unsigned) times d_w·d_x, plus m_w·s_x
// (s_x = d_x·Σq8) for the blocks' minimum.
func dotQ4_1Ref(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QK; b++ {
		wb, xb := w[b*20:], x[b*36:]
		var sumi int32
		for j := range QK / 2 {
			q := wb[4+j]
			sumi += int32(q&0xf)*int32(int8(xb[4+j])) + int32(q>>4)*int32(int8(xb[4+j+QK/2]))
		}
		sum += f16At(wb)*f16At(xb)*float32(sumi) + f16At(wb[2:])*f16At(xb[2:])
	}
	return sum
}

func dotQ5_1Ref(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QK; b++ {
		wb, xb := w[b*24:], x[b*36:]
		qh := binary.LittleEndian.Uint32(wb[4:])
		var sumi int32
		for j := range QK / 2 {
			q := wb[8+j]
			q0 := int32(q&0xf | byte(qh>>j&1)<<4)
			q1 := int32(q>>4 | byte(qh>>(j+QK/2)&1)<<4)
			sumi += q0*int32(int8(xb[4+j])) + q1*int32(int8(xb[4+j+QK/2]))
		}
		sum += f16At(wb)*f16At(xb)*float32(sumi) + f16At(wb[2:])*f16At(xb[2:])
	}
	return sum
}

func dotQ8_1Ref(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QK; b++ {
		wb, xb := w[b*36:], x[b*36:]
		var sumi int32
		for j := range QK {
			sumi += int32(int8(wb[4+j])) * int32(int8(xb[4+j]))
		}
		sum += f16At(wb) * f16At(xb) * float32(sumi)
	}
	return sum
}

// q8KScale reads a Q8_K block's float32 scale.
func q8KScale(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// q8KBsum reads the sum of quants 16·g … 16·g+15 of a Q8_K block.
func q8KBsum(b []byte, g int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(b[4+QKK+2*g:])))
}

// dotQ4KRef: per block, Σ_j sc_j·(q·q8 over sub-block j) scaled by d·d_x,
// minus dmin·d_x·Σ_j m_j·(sum of q8 in sub-block j).
func dotQ4KRef(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QKK; b++ {
		wb, xb := w[b*144:], x[b*292:]
		packed, qs, q8 := wb[4:16], wb[16:144], xb[4:4+QKK]
		var sumi, summs int32
		for j := range QKK / 32 {
			sc, m := scaleMinK4(j, packed)
			shift := 4 * uint(j&1)
			chunk := qs[32*(j/2) : 32*(j/2)+32]
			var isum int32
			for l := range 32 {
				isum += int32(chunk[l]>>shift&0xf) * int32(int8(q8[32*j+l]))
			}
			sumi += int32(sc) * isum
			summs += int32(m) * (q8KBsum(xb, 2*j) + q8KBsum(xb, 2*j+1))
		}
		dx := q8KScale(xb)
		sum += f16At(wb)*dx*float32(sumi) - f16At(wb[2:])*dx*float32(summs)
	}
	return sum
}

// dotQ5KRef: as dotQ4KRef with 5-bit quants (fifth bit of element 32·j+l
// in bit j of qh[l]).
func dotQ5KRef(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QKK; b++ {
		wb, xb := w[b*176:], x[b*292:]
		packed, qh, qs, q8 := wb[4:16], wb[16:48], wb[48:176], xb[4:4+QKK]
		var sumi, summs int32
		for j := range QKK / 32 {
			sc, m := scaleMinK4(j, packed)
			shift := 4 * uint(j&1)
			chunk := qs[32*(j/2) : 32*(j/2)+32]
			var isum int32
			for l := range 32 {
				q := int32(chunk[l]>>shift&0xf) | int32(qh[l]>>uint(j)&1)<<4
				isum += q * int32(int8(q8[32*j+l]))
			}
			sumi += int32(sc) * isum
			summs += int32(m) * (q8KBsum(xb, 2*j) + q8KBsum(xb, 2*j+1))
		}
		dx := q8KScale(xb)
		sum += f16At(wb)*dx*float32(sumi) - f16At(wb[2:])*dx*float32(summs)
	}
	return sum
}

// dotQ6KRef: per block, Σ_g sc_g·(q−32)·q8 over 16-element groups g, times d·d_x.
func dotQ6KRef(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QKK; b++ {
		wb, xb := w[b*210:], x[b*292:]
		ql, qh, sc, q8 := wb[0:128], wb[128:192], wb[192:208], xb[4:4+QKK]
		var sumi int32
		for h := 0; h < QKK; h += 128 {
			for l := range 32 {
				is := h/16 + l/16
				q1 := int32(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
				q2 := int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				sumi += int32(int8(sc[is])) * q1 * int32(int8(q8[h+l]))
				sumi += int32(int8(sc[is+2])) * q2 * int32(int8(q8[h+l+32]))
				sumi += int32(int8(sc[is+4])) * q3 * int32(int8(q8[h+l+64]))
				sumi += int32(int8(sc[is+6])) * q4 * int32(int8(q8[h+l+96]))
			}
			ql, qh = ql[64:], qh[32:]
		}
		sum += f16At(wb[208:]) * q8KScale(xb) * float32(sumi)
	}
	return sum
}

func dotQ8KRef(w, x []byte, n int) float32 {
	var sum float32
	for b := 0; b < n/QKK; b++ {
		wb, xb := w[b*292:], x[b*292:]
		var sumi int32
		for j := range QKK {
			sumi += int32(int8(wb[4+j])) * int32(int8(xb[4+j]))
		}
		sum += q8KScale(wb) * q8KScale(xb) * float32(sumi)
	}
	return sum
}

// dotFloat32Ref is the reference float dot product (sequential sum).
func dotFloat32Ref(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// KernelName names the kernel family in use ("purego", "avx2", "avx512vnni").
func KernelName() string { return kernelName }
