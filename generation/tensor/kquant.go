package tensor

import (
	"math"
)

// groupMaxEps is ggml's threshold below which a group counts as all zero.
const groupMaxEps = 1e-15

// Q4_K block: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for eight
// 32-element sub-blocks, 128 bytes of nibbles. Sub-block j lives in the low
// (j even) or high (j odd) nibbles of bytes 32·(j/2) … 32·(j/2)+31.
// value = d·sc_j·q − dmin·m_j.

// scaleMinK4 unpacks sub-block j's 6-bit scale and min from the 12 packed
// bytes (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	sc = q[j+4]&0xf | (q[j-4]>>6)<<4
	m = q[j+4]>>4 | (q[j]>>6)<<4
	return sc, m
}

func quantizeBlockQ4K(dst []byte, x []float32) {
	var L [QKK]uint8
	quantizeKSubBlocks(dst[0:4], dst[4:16], x, &L, 15, -1, 0.1, 20)
	q := dst[16:144]
	for c := range 4 { // 64-element chunks: sub-block 2c low, 2c+1 high
		for l := range 32 {
			q[32*c+l] = L[64*c+l] | L[64*c+32+l]<<4
		}
	}
}

// Q5_K block: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins (as Q4_K),
// 32 bytes qh, 128 bytes of low nibbles. Element 32·j+l has its low four
// bits where Q4_K keeps them and its fifth bit in bit j of qh[l].
// value = d·sc_j·q − dmin·m_j.

func quantizeBlockQ5K(dst []byte, x []float32) {
	var L [QKK]uint8
	quantizeKSubBlocks(dst[0:4], dst[4:16], x, &L, 31, -0.5, 0.1, 15)
	qh, q := dst[16:48], dst[48:176]
	clear(qh)
	for c := range 4 {
		for l := range 32 {
			lo, hi := L[64*c+l], L[64*c+32+l]
			qh[l] |= (lo>>4)<<(2*c) | (hi>>4)<<(2*c+1)
			q[32*c+l] = lo&0xf | (hi&0xf)<<4
		}
	}
}

// quantizeKSubBlocks is the shared part of ggml's Q4_K and Q5_K reference
// quantizers: per 32-element sub-block a weighted asymmetric fit with nmax
// levels (weights RMS + |x|), the eight scales and mins quantized to 6 bits
// against their maxima (packed into packed, f16 d and dmin into hdr), and
// the final levels, recomputed with the quantized scales, in L.
func quantizeKSubBlocks(hdr, packed []byte, x []float32, L *[QKK]uint8, nmax int, rmin, rdelta float32, nstep int) {
	var (
		laux    [32]uint8
		weights [32]float32
		scales  [QKK / 32]float32
		mins    [QKK / 32]float32
	)
	var maxScale, maxMin float32
	for j := range QKK / 32 {
		sub := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range sub {
			sumX2 += v * v
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range sub {
			weights[l] = avX + float32(math.Abs(float64(v)))
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, sub, weights[:], L[32*j:32*j+32], laux[:], rmin, rdelta, nstep)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	clear(packed)
	for j := range QKK / 32 {
		// Like ggml: convert to uint8 (wrapping) before clamping to 63.
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		if j < 4 {
			packed[j] = ls
			packed[j+4] = lm
		} else {
			packed[j+4] = ls&0xf | (lm&0xf)<<4
			packed[j-4] |= (ls >> 4) << 6
			packed[j] |= (lm >> 4) << 6
		}
	}
	putF16(hdr[0:], maxScale/63)
	putF16(hdr[2:], maxMin/63)
	dAll, dminAll := f16At(hdr[0:]), f16At(hdr[2:])
	for j := range QKK / 32 {
		sc, m := scaleMinK4(j, packed)
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := dminAll * float32(m)
		for i := range 32 {
			l := nearestInt((x[32*j+i] + dm) / d)
			L[32*j+i] = uint8(max(0, min(nmax, l)))
		}
	}
}

// makeQKX2Quants finds a scale and (non-positive) offset for an asymmetric
// nmax-level quantization of x minimising the weighted squared error,
// trying nstep+1 scales around the min/max one (ggml's make_qkx2_quants with
// use_mad=false). It returns the scale and −min, and the levels in L.
func makeQKX2Quants(nmax int, x, weights []float32, L, laux []uint8, rmin, rdelta float32, nstep int) (scale, negMin float32) {
	n := len(x)
	minv, maxv := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		minv = min(minv, x[i])
		maxv = max(maxv, x[i])
		w := weights[i]
		sumW += w
		sumX += w * x[i]
	}
	if minv > 0 {
		minv = 0
	}
	if maxv == minv {
		clear(L[:n])
		return 0, -minv
	}
	iscale := float32(nmax) / (maxv - minv)
	scale = 1 / iscale
	var bestErr float32
	for i := range n {
		l := nearestInt(iscale * (x[i] - minv))
		L[i] = uint8(max(0, min(nmax, l)))
		diff := scale*float32(L[i]) + minv - x[i]
		bestErr += weights[i] * diff * diff
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (maxv - minv)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := max(0, min(nmax, nearestInt(iscale*(x[i]-minv))))
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += w * fl
			sumL2 += w * fl * fl
			sumXL += w * fl * x[i]
		}
		D := sumW*sumL2 - sumL*sumL
		if D <= 0 {
			continue
		}
		thisScale := (sumW*sumXL - sumX*sumL) / D
		thisMin := (sumL2*sumX - sumL*sumXL) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var errSum float32
		for i := range n {
			diff := thisScale*float32(laux[i]) + thisMin - x[i]
			errSum += weights[i] * diff * diff
		}
		if errSum < bestErr {
			copy(L[:n], laux[:n])
			bestErr = errSum
			scale = thisScale
			minv = thisMin
		}
	}
	return scale, -minv
}

func dequantizeBlockQ4K(y []float32, b []byte) {
	d, dmin := f16At(b[0:]), f16At(b[2:])
	packed := b[4:16]
	q := b[16:]
	for c := range 4 { // 64-element chunks
		sc1, m1 := scaleMinK4(2*c, packed)
		sc2, m2 := scaleMinK4(2*c+1, packed)
		d1, mm1 := d*float32(sc1), dmin*float32(m1)
		d2, mm2 := d*float32(sc2), dmin*float32(m2)
		for l := range 32 {
			y[64*c+l] = d1*float32(q[32*c+l]&0xf) - mm1
			y[64*c+32+l] = d2*float32(q[32*c+l]>>4) - mm2
		}
	}
}

func dequantizeBlockQ5K(y []float32, b []byte) {
	d, dmin := f16At(b[0:]), f16At(b[2:])
	packed, qh, q := b[4:16], b[16:48], b[48:176]
	for c := range 4 {
		sc1, m1 := scaleMinK4(2*c, packed)
		sc2, m2 := scaleMinK4(2*c+1, packed)
		d1, mm1 := d*float32(sc1), dmin*float32(m1)
		d2, mm2 := d*float32(sc2), dmin*float32(m2)
		for l := range 32 {
			lo := q[32*c+l]&0xf | (qh[l]>>(2*c)&1)<<4
			hi := q[32*c+l]>>4 | (qh[l]>>(2*c+1)&1)<<4
			y[64*c+l] = d1*float32(lo) - mm1
			y[64*c+32+l] = d2*float32(hi) - mm2
		}
	}
}

// Q6_K block: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8
// scales (one per 16 elements), f16 d. value = d·sc·(q−32).

func quantizeBlockQ6K(dst []byte, x []float32) {
	var (
		L      [QKK]int8
		scales [QKK / 16]float32
	)
	var maxScale, maxAbsScale float32
	for ib := range QKK / 16 {
		s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := float32(math.Abs(float64(s))); a > maxAbsScale {
			maxAbsScale, maxScale = a, s
		}
	}
	if maxAbsScale < groupMaxEps {
		clear(dst)
		return
	}
	iscale := -128 / maxScale
	putF16(dst[208:], 1/iscale)
	sc := dst[192:208]
	for ib := range QKK / 16 {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	dAll := f16At(dst[208:])
	for j := range QKK / 16 {
		d := dAll * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for i := range 16 {
			l := nearestInt(x[16*j+i] / d)
			L[16*j+i] = int8(max(-32, min(31, l)) + 32)
		}
	}
	ql, qh := dst[0:128], dst[128:192]
	for j := 0; j < QKK; j += 128 {
		for l := range 32 {
			q1 := uint8(L[j+l]) & 0xf
			q2 := uint8(L[j+l+32]) & 0xf
			q3 := uint8(L[j+l+64]) & 0xf
			q4 := uint8(L[j+l+96]) & 0xf
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

// makeQXQuants finds a symmetric scale for nmax·2 levels, weighting errors by
// x² and trying 18 scales around amax/nmax (ggml's make_qx_quants with
// rmse_type 1 and no importance weights). Levels (offset by nmax) go to L.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	maxv, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	fn := float32(nmax)
	level := func(iscale, v float32) int {
		return max(-nmax, min(nmax-1, nearestInt(iscale*v)))
	}
	iscale := -fn / maxv
	var sumLX, sumL2 float32
	for i, v := range x {
		l := level(iscale, v)
		L[i] = int8(l + nmax)
		w := v * v
		fl := float32(l)
		sumLX += w * v * fl
		sumL2 += w * fl * fl
	}
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fn + 0.1*float32(is)) / maxv
		sumLX, sumL2 = 0, 0
		for _, v := range x {
			l := float32(level(iscale, v))
			w := v * v
			sumLX += w * v * l
			sumL2 += w * l * l
		}
		if sumL2 > 0 && sumLX*sumLX > best*sumL2 {
			for i, v := range x {
				L[i] = int8(level(iscale, v) + nmax)
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

func dequantizeBlockQ6K(y []float32, b []byte) {
	d := f16At(b[208:])
	ql, qh, sc := b[0:128], b[128:192], b[192:208]
	for n := 0; n < QKK; n += 128 {
		for l := range 32 {
			is := l / 16
			q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			y[n+l] = d * float32(int8(sc[is])) * float32(q1)
			y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
		ql, qh, sc = ql[64:], qh[32:], sc[8:]
	}
}
