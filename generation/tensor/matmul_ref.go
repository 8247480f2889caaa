package tensor

import (
	"encoding/binary"
	"math"
)

// Pure-Go tile kernels: the reference for the assembly ones and the kernels
// of the purego build. A decoded row holds, per block, the 32 signed quants
// followed by their 32 magnitudes (read by the assembly's unsigned×signed
// byte products), and the block scales as float32.

// putDecoded stores one decoded block's quants and magnitudes.
func putDecoded(q []byte, vals *[QK]int8) {
	for i, v := range vals {
		q[i] = byte(v)
		a := v
		if a < 0 {
			a = -a // −128 stays 0x80, which is 128 read unsigned
		}
		q[QK+i] = byte(a)
	}
}

func decodeRowQ8_0(w []byte, nb int, q []byte, d []float32) {
	var vals [QK]int8
	for b := range nb {
		wb := w[b*34 : (b+1)*34]
		d[b] = f16At(wb)
		for i := range QK {
			vals[i] = int8(wb[2+i])
		}
		putDecoded(q[64*b:], &vals)
	}
}

func decodeRowQ4_0(w []byte, nb int, q []byte, d []float32) {
	var vals [QK]int8
	for b := range nb {
		wb := w[b*18 : (b+1)*18]
		d[b] = f16At(wb)
		for i := range QK / 2 {
			vals[i] = int8(wb[2+i]&0xf) - 8
			vals[i+QK/2] = int8(wb[2+i]>>4) - 8
		}
		putDecoded(q[64*b:], &vals)
	}
}

func decodeRowQ5_0(w []byte, nb int, q []byte, d []float32) {
	var vals [QK]int8
	for b := range nb {
		wb := w[b*22 : (b+1)*22]
		d[b] = f16At(wb)
		qh := binary.LittleEndian.Uint32(wb[2:])
		for i := range QK / 2 {
			vals[i] = int8(wb[6+i]&0xf|byte(qh>>i&1)<<4) - 16
			vals[i+QK/2] = int8(wb[6+i]>>4|byte(qh>>(i+QK/2)&1)<<4) - 16
		}
		putDecoded(q[64*b:], &vals)
	}
}

// dotsDecodedRef is the reference tile dot: per activation row, block by
// block, the integer dot times d_w·d_x, summed in order (as dotQ8_0Ref).
func dotsDecodedRef(q []byte, d []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	for t := range ntok {
		xt, st := a.data[(t0+t)*a.stride:], a.scales[(t0+t)*nb:(t0+t+1)*nb]
		var sum float32
		for b := range nb {
			wq, xq := q[64*b:64*b+QK], xt[34*b+2:34*b+2+QK]
			var sumi int32
			for i := range QK {
				sumi += int32(int8(wq[i])) * int32(int8(xq[i]))
			}
			sum += float32(sumi) * (d[b] * st[b])
		}
		dst[t*dstStride] = sum
	}
}

// Decoded Q4_K super-blocks take q4kDecoded bytes: the 256 quants (0…15)
// in element order; eight dwords holding sub-block j's scale in both
// halves; the eight mins as int16; d and dmin as float32; padding.
const q4kDecoded = 320

func decodeRowQ4K(w []byte, nb int, q []byte, _ []float32) {
	for b := range nb {
		wb, out := w[b*144:(b+1)*144], q[b*q4kDecoded:(b+1)*q4kDecoded]
		packed, qs := wb[4:16], wb[16:144]
		for j := range 8 {
			sc, m := scaleMinK4(j, packed)
			binary.LittleEndian.PutUint32(out[256+4*j:], uint32(sc)|uint32(sc)<<16)
			binary.LittleEndian.PutUint16(out[288+2*j:], uint16(m))
			shift := 4 * uint(j&1)
			for i := range 4 { // eight nibbles at a time
				v := binary.LittleEndian.Uint64(qs[32*(j/2)+8*i:])
				binary.LittleEndian.PutUint64(out[32*j+8*i:], v>>shift&0x0f0f0f0f0f0f0f0f)
			}
		}
		binary.LittleEndian.PutUint32(out[304:], math.Float32bits(f16At(wb)))
		binary.LittleEndian.PutUint32(out[308:], math.Float32bits(f16At(wb[2:])))
	}
}

// dotsQ4KDecodedRef is dotQ4KRef over a decoded row.
func dotsQ4KDecodedRef(q []byte, _ []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	for t := range ntok {
		x := a.data[(t0+t)*a.stride:]
		var sum float32
		for b := range nb {
			wb, xb := q[b*q4kDecoded:], x[b*292:]
			var sumi, summs int32
			for j := range 8 {
				sc := int32(binary.LittleEndian.Uint16(wb[256+4*j:]))
				m := int32(int16(binary.LittleEndian.Uint16(wb[288+2*j:])))
				var isum int32
				for l := range 32 {
					isum += int32(wb[32*j+l]) * int32(int8(xb[4+32*j+l]))
				}
				sumi += sc * isum
				summs += m * (q8KBsum(xb, 2*j) + q8KBsum(xb, 2*j+1))
			}
			dx := q8KScale(xb)
			d := math.Float32frombits(binary.LittleEndian.Uint32(wb[304:]))
			dmin := math.Float32frombits(binary.LittleEndian.Uint32(wb[308:]))
			sum += d*dx*float32(sumi) - dmin*dx*float32(summs)
		}
		dst[t*dstStride] = sum
	}
}

// Decoded Q6_K super-blocks take q6kDecoded bytes: the 256 quants (0…63,
// without the −32 offset) in element order; for each 32-element set s the
// 16 int16 scales its products meet (eight of sc[2s], eight of sc[2s+1]);
// the 16 scales as int16; d as float32; padding.
const q6kDecoded = 576

func decodeRowQ6K(w []byte, nb int, q []byte, _ []float32) {
	const lo4, lo2 = 0x0f0f0f0f0f0f0f0f, 0x0303030303030303
	le := binary.LittleEndian
	for b := range nb {
		wb, out := w[b*210:(b+1)*210], q[b*q6kDecoded:(b+1)*q6kDecoded]
		sc := wb[192:208]
		for h := range 2 { // eight elements at a time, byte-wise in a uint64
			ql, qh, o := wb[64*h:], wb[128+32*h:], out[128*h:]
			for l := 0; l < 32; l += 8 {
				a, c, hi := le.Uint64(ql[l:]), le.Uint64(ql[l+32:]), le.Uint64(qh[l:])
				le.PutUint64(o[l:], a&lo4|(hi&lo2)<<4)
				le.PutUint64(o[l+32:], c&lo4|(hi>>2&lo2)<<4)
				le.PutUint64(o[l+64:], a>>4&lo4|(hi>>4&lo2)<<4)
				le.PutUint64(o[l+96:], c>>4&lo4|(hi>>6&lo2)<<4)
			}
		}
		for g := range 16 {
			v := uint64(uint16(int16(int8(sc[g])))) * 0x0001000100010001
			// Set s = g/2 takes sc[2s] in its first eight words, sc[2s+1]
			// in its last eight.
			le.PutUint64(out[256+16*g:], v)
			le.PutUint64(out[256+16*g+8:], v)
			le.PutUint16(out[512+2*g:], uint16(int16(int8(sc[g]))))
		}
		le.PutUint32(out[544:], math.Float32bits(f16At(wb[208:])))
	}
}

// dotsQ6KDecodedRef is dotQ6KRef over a decoded row.
func dotsQ6KDecodedRef(q []byte, _ []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	for t := range ntok {
		x := a.data[(t0+t)*a.stride:]
		var sum float32
		for b := range nb {
			wb, xb := q[b*q6kDecoded:], x[b*292:]
			var sumi int32
			for e := range QKK {
				sc := int32(int16(binary.LittleEndian.Uint16(wb[512+2*(e/16):])))
				sumi += sc * (int32(wb[e]) - 32) * int32(int8(xb[4+e]))
			}
			d := math.Float32frombits(binary.LittleEndian.Uint32(wb[544:]))
			sum += d * q8KScale(xb) * float32(sumi)
		}
		dst[t*dstStride] = sum
	}
}
