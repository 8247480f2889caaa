//go:build amd64 && !purego

package tensor

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Assembly tile kernels (matmul_amd64.s): row decoders and the decoded-row
// × Q8_0-activations dot loops, AVX2 (VPMADDUBSW) and AVX-512 VNNI
// (VPDPBUSD on 256-bit registers).

//go:noescape
func decodeQ4_0AVX2(w *byte, nb int, q *byte, d *float32)

//go:noescape
func decodeQ5_0AVX2(w *byte, nb int, q *byte, d *float32)

//go:noescape
func decodeQ8_0AVX2(w *byte, nb int, q *byte, d *float32)

//go:noescape
func decodeQ4_0Off(w *byte, nb int, q *byte, d *float32)

//go:noescape
func decodeQ5_0Off(w *byte, nb int, q *byte, d *float32)

//go:noescape
func decodeQ8_0Off(w *byte, nb int, q *byte, d *float32)

//go:noescape
func quantizeQ8_0AVX2(x *float32, nb int, dst *byte, scales *float32, corr *int32) int

//go:noescape
func quantizeQ8KAVX2(x *float32, nb int, dst *byte) int

//go:noescape
func repack4(src *byte, srcStride int, groups int, dst *byte, dstStride int)

//go:noescape
func tile4PackedVNNI(q *byte, d *float32, groups int, tail int, x *byte, xStride int, dst *float32, dstStride int)

//go:noescape
func tileDotsQ4KVNNI(q *byte, nb int, x *byte, xStride int, dst *float32, dstStride int, ntok int)

//go:noescape
func tile8PackedVNNI(q0, q1 *byte, d0, d1 *float32, groups int, tail int, x *byte, xStride int, dst *float32, dstStride int)

//go:noescape
func tileDotsQ6KVNNI(q *byte, nb int, x *byte, xStride int, dst *float32, dstStride int, ntok int)

//go:noescape
func tileDotsAVX2(q *byte, d *float32, nb int, x *byte, xStride int, xd *float32, dst *float32, dstStride int, ntok int)

type asmDecoder func(w *byte, nb int, q *byte, d *float32)

type asmTileDots func(q *byte, d *float32, nb int, x *byte, xStride int, xd *float32, dst *float32, dstStride int, ntok int)

// asmDecode adapts an assembly row decoder, checking the bounds it trusts.
func asmDecode(k asmDecoder, blockBytes int) func(w []byte, nb int, q []byte, d []float32) {
	return func(w []byte, nb int, q []byte, d []float32) {
		if nb == 0 {
			return
		}
		_, _, _ = w[nb*blockBytes-1], q[64*nb-1], d[nb-1]
		k(unsafe.SliceData(w), nb, unsafe.SliceData(q), unsafe.SliceData(d))
	}
}

// asmDots adapts an assembly tile dot loop, checking the bounds it trusts.
func asmDots(k asmTileDots) func(q []byte, d []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	return func(q []byte, d []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
		if ntok == 0 || nb == 0 {
			return
		}
		_, _ = q[64*nb-1], d[nb-1]
		_ = a.data[(t0+ntok)*a.stride-1]
		_ = a.scales[(t0+ntok)*nb-1]
		_ = dst[(ntok-1)*dstStride]
		k(unsafe.SliceData(q), unsafe.SliceData(d), nb, &a.data[t0*a.stride], a.stride,
			&a.scales[t0*nb], unsafe.SliceData(dst), dstStride, ntok)
	}
}

// tileKernelSets lists the assembly tile kernel families this CPU can run,
// in increasing preference.
func tileKernelSets() []tileKernelSet {
	var sets []tileKernelSet
	if hasAVX2 {
		dots := asmDots(tileDotsAVX2)
		sets = append(sets, tileKernelSet{"avx2", map[DType]tileKernel{
			Q4_0: {asmDecode(decodeQ4_0AVX2, 18), dots, false, nil, nil},
			Q5_0: {asmDecode(decodeQ5_0AVX2, 22), dots, false, nil, nil},
			Q8_0: {asmDecode(decodeQ8_0AVX2, 34), dots, false, nil, nil},
		}})
	}
	if hasVNNI {
		q4k := tileKernel{decodeRowQ4K, kQuantDots(q4kDecoded, tileDotsQ4KVNNI), false, nil, nil}
		q6k := tileKernel{decodeRowQ6K, kQuantDots(q6kDecoded, tileDotsQ6KVNNI), false, nil, nil}
		sets = append(sets, tileKernelSet{"avx512vnni-kquants", map[DType]tileKernel{Q4_K: q4k, Q6_K: q6k}})
		pack := (*Activations).ensurePacked
		sets = append(sets, tileKernelSet{"avx512vnni", map[DType]tileKernel{
			Q4_0: {packedDecode(decodeQ4_0Off, 18), dotsPackedVNNI, true, pack, dots2PackedVNNI},
			Q5_0: {packedDecode(decodeQ5_0Off, 22), dotsPackedVNNI, true, pack, dots2PackedVNNI},
			Q8_0: {packedDecode(decodeQ8_0Off, 34), dotsPackedVNNI, true, pack, dots2PackedVNNI},
		}})
	}
	return sets
}

func init() {
	if hasAVX2 {
		quantizeQ8_0Blocks = quantizeQ8_0BlocksAVX2
		quantizeQ8KRow = quantizeQ8KRowAVX2
	}
}

// quantizeQ8KRowAVX2 encodes len(x)/256 Q8_K blocks with the assembly
// quantizer, finishing in Go any block it leaves (one with a NaN, an
// infinity, or values too tiny for a finite inverse scale).
func quantizeQ8KRowAVX2(dst []byte, x []float32) {
	nb := len(x) / QKK
	if nb == 0 {
		return
	}
	_, _ = x[nb*QKK-1], dst[nb*292-1]
	for b := 0; b < nb; {
		b += quantizeQ8KAVX2(&x[b*QKK], nb-b, &dst[b*292])
		if b < nb {
			quantizeBlockQ8K(dst[b*292:(b+1)*292], x[b*QKK:(b+1)*QKK])
			b++
		}
	}
}

// quantizeQ8_0BlocksAVX2 encodes len(scales) Q8_0 blocks with the assembly
// quantizer, finishing in Go any block it leaves (a block of values too
// tiny for a finite inverse scale).
func quantizeQ8_0BlocksAVX2(x []float32, dst []byte, scales []float32, corr []int32) {
	nb := len(scales)
	_, _, _ = x[nb*QK-1], dst[nb*34-1], corr[nb*8-1]
	for b := 0; b < nb; {
		b += quantizeQ8_0AVX2(&x[b*QK], nb-b, &dst[b*34], &scales[b], &corr[b*8])
		if b < nb {
			quantizeBlockQ8_0(dst[b*34:(b+1)*34], x[b*QK:(b+1)*QK])
			scales[b] = f16At(dst[b*34:])
			q8Corrections(corr[b*8:b*8+8], dst[b*34+2:b*34+34])
			b++
		}
	}
}

// Packed activations for tile4PackedVNNI: per activation row, each group of
// four blocks takes packedGroupBytes (eight int32 corrections, the four
// steps of quants, four float32 scales) and each of the last nb%4 blocks
// packedTailBytes (eight corrections, 32 quants, the scale).
const (
	packedGroupBytes = 32 + 128 + 16
	packedTailBytes  = 32 + 32 + 4
)

// ensurePacked builds a's packed form (Q8_0 activations) if not yet done.
func (a *Activations) ensurePacked() {
	if a.hasPacked || a.typ != Q8_0 {
		return
	}
	a.ensureCorrections()
	nb := a.cols / QK
	groups, tail := nb/4, nb%4
	a.packedStride = groups*packedGroupBytes + tail*packedTailBytes
	need := a.n * a.packedStride
	if cap(a.packed) < need {
		a.packed = make([]byte, need)
	}
	a.packed = a.packed[:need]
	for tok := range a.n {
		row := a.packed[tok*a.packedStride : (tok+1)*a.packedStride]
		b0 := tok * nb
		if groups > 0 {
			repack4(&a.data[tok*a.stride+2], 34, groups, &row[32], packedGroupBytes)
		}
		for g := range groups {
			rec := row[g*packedGroupBytes:]
			for k := range 4 {
				c := a.corr[(b0+4*g+k)*8:]
				binary.LittleEndian.PutUint32(rec[4*k:], uint32(c[0]+c[1]+c[2]+c[3]))
				binary.LittleEndian.PutUint32(rec[16+4*k:], uint32(c[4]+c[5]+c[6]+c[7]))
				binary.LittleEndian.PutUint32(rec[160+4*k:], math.Float32bits(a.scales[b0+4*g+k]))
			}
		}
		for i := range tail {
			b := b0 + 4*groups + i
			rec := row[groups*packedGroupBytes+i*packedTailBytes:]
			for l, c := range a.corr[8*b : 8*b+8] {
				binary.LittleEndian.PutUint32(rec[4*l:], uint32(c))
			}
			copy(rec[32:64], a.data[b*34+2:b*34+34])
			binary.LittleEndian.PutUint32(rec[64:], math.Float32bits(a.scales[b]))
		}
	}
	a.hasPacked = true
}

// packedDecode decodes a row with an offset-form decoder, then packs it
// after the first 64·nb bytes: groups of four blocks as four steps (see
// repack4 in matmul_amd64.s), the last nb%4 blocks as they are.
func packedDecode(k asmDecoder, blockBytes int) func(w []byte, nb int, q []byte, d []float32) {
	decode := asmDecode(k, blockBytes)
	return func(w []byte, nb int, q []byte, d []float32) {
		if nb == 0 {
			return
		}
		decode(w, nb, q, d)
		groups := nb / 4
		packed := q[64*nb : 96*nb]
		if groups > 0 {
			repack4(&q[32], 64, groups, &packed[0], 128)
		}
		for b := 4 * groups; b < nb; b++ {
			copy(packed[32*b:32*b+32], q[64*b+32:64*b+64])
		}
	}
}

// dotsPackedVNNI runs tile4PackedVNNI over groups of four activation rows;
// a last one to three rows go through it one at a time (all four token
// slots reading the same row).
func dotsPackedVNNI(q []byte, d []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	if ntok == 0 || nb == 0 {
		return
	}
	_, _ = q[96*nb-1], d[nb-1]
	_ = a.packed[(t0+ntok)*a.packedStride-1]
	_ = dst[(ntok-1)*dstStride]
	groups, tail := nb/4, nb%4
	pq := &q[64*nb]
	t := 0
	for ; t+4 <= ntok; t += 4 {
		tile4PackedVNNI(pq, unsafe.SliceData(d), groups, tail, &a.packed[(t0+t)*a.packedStride], a.packedStride,
			&dst[t*dstStride], dstStride)
	}
	for ; t < ntok; t++ {
		tile4PackedVNNI(pq, unsafe.SliceData(d), groups, tail, &a.packed[(t0+t)*a.packedStride], 0,
			&dst[t*dstStride], 0)
	}
}

// dots2PackedVNNI runs tile8PackedVNNI (two weight rows × four activation
// rows); a last one to three activation rows go through it one at a time.
func dots2PackedVNNI(q0, q1 []byte, d0, d1 []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	if ntok == 0 || nb == 0 {
		return
	}
	_, _, _, _ = q0[96*nb-1], q1[96*nb-1], d0[nb-1], d1[nb-1]
	_ = a.packed[(t0+ntok)*a.packedStride-1]
	_ = dst[(ntok-1)*dstStride+1]
	groups, tail := nb/4, nb%4
	p0, p1 := &q0[64*nb], &q1[64*nb]
	t := 0
	for ; t+4 <= ntok; t += 4 {
		tile8PackedVNNI(p0, p1, &d0[0], &d1[0], groups, tail, &a.packed[(t0+t)*a.packedStride], a.packedStride,
			&dst[t*dstStride], dstStride)
	}
	for ; t < ntok; t++ {
		tile8PackedVNNI(p0, p1, &d0[0], &d1[0], groups, tail, &a.packed[(t0+t)*a.packedStride], 0,
			&dst[t*dstStride], 0)
	}
}

// kQuantDots adapts a K-quant tile kernel (tileDotsQ4KVNNI,
// tileDotsQ6KVNNI) over weights decoded to decoded bytes per block,
// checking the bounds it trusts.
func kQuantDots(decoded int, kernel func(q *byte, nb int, x *byte, xStride int, dst *float32, dstStride, ntok int)) func(q []byte, _ []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
	return func(q []byte, _ []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int) {
		if ntok == 0 || nb == 0 {
			return
		}
		_ = q[nb*decoded-1]
		_ = a.data[(t0+ntok)*a.stride-1]
		_ = dst[(ntok-1)*dstStride]
		kernel(&q[0], nb, &a.data[t0*a.stride], a.stride, &dst[0], dstStride, ntok)
	}
}
