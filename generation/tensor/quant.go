package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize encodes src as type t with ggml's reference quantizers
// (quantize_row_*_ref): round-to-nearest block scales for Q4_0, Q5_0, Q8_0
// and Q8_K, and the weighted scale/min search of Q4_K and Q6_K.
// len(src) must be a multiple of t.BlockSize().
func Quantize(t DType, src []float32) ([]byte, error) {
	if err := checkType(t, len(src)); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	dst := make([]byte, RowBytes(t, len(src)))
	bs := t.BlockSize()
	if bs == 1 || len(src) < 64*QKK {
		quantizeInto(t, dst, src)
		return dst, nil
	}
	// Large inputs (whole weight tensors): blocks are independent, so
	// encode them on all threads.
	var split splitter
	job := quantizeJob{t: t, src: src, cols: bs, dst: dst, dstRows: t.BlockBytes()}
	parallelFor(&split, &job, len(src)/bs, 64)
	return dst, nil
}

// quantizeInto encodes src into dst, which must be exactly
// RowBytes(t, len(src)) long; t must be supported.
func quantizeInto(t DType, dst []byte, src []float32) {
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case Q8_K:
		quantizeQ8KRow(dst, src)
	default:
		bs, bb := t.BlockSize(), t.BlockBytes()
		enc := blockEncoders[t]
		for i := 0; i*bs < len(src); i++ {
			enc(dst[i*bb:(i+1)*bb], src[i*bs:(i+1)*bs])
		}
	}
}

// Dequantize decodes len(dst) elements of type t from data, which must hold
// exactly RowBytes(t, len(dst)) bytes.
func Dequantize(t DType, data []byte, dst []float32) error {
	if err := checkType(t, len(dst)); err != nil {
		return fmt.Errorf("dequantize: %w", err)
	}
	if want := RowBytes(t, len(dst)); len(data) != want {
		return fmt.Errorf("dequantize: %d %s elements need %d bytes, got %d", len(dst), t, want, len(data))
	}
	dequantizeInto(t, data, dst)
	return nil
}

// dequantizeInto is Dequantize without the checks.
func dequantizeInto(t DType, data []byte, dst []float32) {
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	default:
		bs, bb := t.BlockSize(), t.BlockBytes()
		dec := blockDecoders[t]
		for i := 0; i*bs < len(dst); i++ {
			dec(dst[i*bs:(i+1)*bs], data[i*bb:(i+1)*bb])
		}
	}
}

var blockEncoders = map[DType]func(dst []byte, src []float32){
	Q4_0: quantizeBlockQ4_0,
	Q4_1: quantizeBlockQ4_1,
	Q5_1: quantizeBlockQ5_1,
	Q8_1: quantizeBlockQ8_1,
	Q5_0: quantizeBlockQ5_0,
	Q8_0: quantizeBlockQ8_0,
	Q4_K: quantizeBlockQ4K,
	Q5_K: quantizeBlockQ5K,
	Q6_K: quantizeBlockQ6K,
	Q8_K: quantizeBlockQ8K,
}

var blockDecoders = map[DType]func(dst []float32, src []byte){
	Q4_0: dequantizeBlockQ4_0,
	Q4_1: dequantizeBlockQ4_1,
	Q5_1: dequantizeBlockQ5_1,
	Q8_1: dequantizeBlockQ8_1,
	Q5_0: dequantizeBlockQ5_0,
	Q8_0: dequantizeBlockQ8_0,
	Q4_K: dequantizeBlockQ4K,
	Q5_K: dequantizeBlockQ5K,
	Q6_K: dequantizeBlockQ6K,
	Q8_K: dequantizeBlockQ8K,
}

func f16At(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

func putF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, F32ToF16(v)) }

// roundHalfAway rounds like C's roundf (ties away from zero). Adding 0.5
// in float64 is exact for any float32 of magnitude below 2^28, so
// truncating the sum rounds correctly; larger values fall back to math.Round.
func roundHalfAway(v float32) int {
	f := float64(v)
	if f >= 0 && f < 1<<28 {
		return int(f + 0.5)
	}
	if f < 0 && f > -(1<<28) {
		return -int(0.5 - f)
	}
	return roundHalfAwayLarge(f)
}

func roundHalfAwayLarge(f float64) int { return int(math.Round(f)) }

// roundHalfAwaySmall is roundHalfAway for |v| < 2^28 (small enough to be
// inlined in the quantizers' inner loops).
func roundHalfAwaySmall(v float32) int {
	f := float64(v)
	if f < 0 {
		return -int(0.5 - f)
	}
	return int(f + 0.5)
}

// nearestInt rounds like ggml's nearest_int (ties to even).
func nearestInt(v float32) int {
	if v > -1<<22 && v < 1<<22 {
		return nearestIntSmall(v)
	}
	return int(math.RoundToEven(float64(v)))
}

// nearestIntSmall is nearestInt for |v| < 2^22, with ggml's float trick:
// adding 1.5·2^23 leaves round-to-nearest-even(v) in the low mantissa bits.
func nearestIntSmall(v float32) int {
	b := math.Float32bits(v + 12582912)
	return int(b&0x007fffff) - 0x00400000
}

// absMax returns the element of largest magnitude (with its sign) and that
// magnitude; the first one wins a tie.
func absMax(x []float32) (maxv, amax float32) {
	for _, v := range x {
		a := float32(math.Abs(float64(v)))
		if a > amax {
			amax, maxv = a, v
		}
	}
	return maxv, amax
}

// Q8_0: f16 d, 32 × int8; value = q·d, d = amax/127.
func quantizeBlockQ8_0(dst []byte, x []float32) {
	_, amax := absMax(x)
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	for j, v := range x {
		dst[2+j] = byte(int8(roundHalfAwaySmall(v * id))) // |v·id| ≤ 127
	}
}

func dequantizeBlockQ8_0(y []float32, b []byte) {
	d := f16At(b)
	for j := range QK {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// Q4_0: f16 d, 16 bytes of nibbles; element j<16 in the low nibble of byte
// j, element j+16 in its high nibble; value = (q−8)·d, d = max/−8 where max
// is the signed element of largest magnitude.
func quantizeBlockQ4_0(dst []byte, x []float32) {
	maxv, _ := absMax(x)
	d := maxv / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	for j := range QK / 2 {
		x0 := x[j]*id + 8.5
		x1 := x[j+QK/2]*id + 8.5
		q0 := min(15, int(x0))
		q1 := min(15, int(x1))
		dst[2+j] = byte(q0) | byte(q1)<<4
	}
}

func dequantizeBlockQ4_0(y []float32, b []byte) {
	d := f16At(b)
	for j := range QK / 2 {
		q := b[2+j]
		y[j] = float32(int(q&0xf)-8) * d
		y[j+QK/2] = float32(int(q>>4)-8) * d
	}
}

// Q5_0: f16 d, 32 high bits (uint32 LE), 16 bytes of low nibbles;
// value = (q−16)·d, d = max/−16.
func quantizeBlockQ5_0(dst []byte, x []float32) {
	maxv, _ := absMax(x)
	d := maxv / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	var qh uint32
	for j := range QK / 2 {
		x0 := x[j]*id + 16.5
		x1 := x[j+QK/2]*id + 16.5
		q0 := uint32(min(31, int(x0)))
		q1 := uint32(min(31, int(x1)))
		dst[6+j] = byte(q0&0xf) | byte(q1&0xf)<<4
		qh |= (q0 >> 4 & 1) << j
		qh |= (q1 >> 4 & 1) << (j + QK/2)
	}
	binary.LittleEndian.PutUint32(dst[2:], qh)
}

func dequantizeBlockQ5_0(y []float32, b []byte) {
	d := f16At(b)
	qh := binary.LittleEndian.Uint32(b[2:])
	for j := range QK / 2 {
		h0 := byte(qh>>j&1) << 4
		h1 := byte(qh>>(j+QK/2)&1) << 4
		q := b[6+j]
		y[j] = float32(int(q&0xf|h0)-16) * d
		y[j+QK/2] = float32(int(q>>4|h1)-16) * d
	}
}

// minMax returns the smallest and largest element.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = float32(math.MaxFloat32), -float32(math.MaxFloat32)
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

// Q4_1: f16 d, f16 m, 16 bytes of nibbles (as Q4_0); value = q·d + m with
// m the block minimum and d = (max − min)/15.
func quantizeBlockQ4_1(dst []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	putF16(dst[2:], lo)
	for j := range QK / 2 {
		q0 := min(15, int((x[j]-lo)*id+0.5))
		q1 := min(15, int((x[j+QK/2]-lo)*id+0.5))
		dst[4+j] = byte(q0) | byte(q1)<<4
	}
}

func dequantizeBlockQ4_1(y []float32, b []byte) {
	d, m := f16At(b), f16At(b[2:])
	for j := range QK / 2 {
		q := b[4+j]
		y[j] = float32(q&0xf)*d + m
		y[j+QK/2] = float32(q>>4)*d + m
	}
}

// Q5_1: f16 d, f16 m, 32 high bits (uint32 LE), 16 bytes of low nibbles;
// value = q·d + m, d = (max − min)/31.
func quantizeBlockQ5_1(dst []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	putF16(dst[2:], lo)
	var qh uint32
	for j := range QK / 2 {
		q0 := uint32(uint8(int((x[j]-lo)*id + 0.5)))
		q1 := uint32(uint8(int((x[j+QK/2]-lo)*id + 0.5)))
		dst[8+j] = byte(q0&0xf) | byte(q1&0xf)<<4
		qh |= (q0 >> 4 & 1) << j
		qh |= (q1 >> 4 & 1) << (j + QK/2)
	}
	binary.LittleEndian.PutUint32(dst[4:], qh)
}

func dequantizeBlockQ5_1(y []float32, b []byte) {
	d, m := f16At(b), f16At(b[2:])
	qh := binary.LittleEndian.Uint32(b[4:])
	for j := range QK / 2 {
		h0 := byte(qh>>j&1) << 4
		h1 := byte(qh>>(j+QK/2)&1) << 4
		q := b[8+j]
		y[j] = float32(q&0xf|h0)*d + m
		y[j+QK/2] = float32(q>>4|h1)*d + m
	}
}

// Q8_1: f16 d, f16 s, 32 × int8; as Q8_0 plus s = d·Σq (the activation
// type for Q4_1 and Q5_1 weights, whose minimum meets Σx through s).
func quantizeBlockQ8_1(dst []byte, x []float32) {
	_, amax := absMax(x)
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	sum := 0
	for j, v := range x {
		q := roundHalfAwaySmall(v * id) // |v·id| ≤ 127
		dst[4+j] = byte(int8(q))
		sum += q
	}
	putF16(dst[2:], float32(sum)*d)
}

func dequantizeBlockQ8_1(y []float32, b []byte) {
	d := f16At(b)
	for j := range QK {
		y[j] = float32(int8(b[4+j])) * d
	}
}

// quantizeQ8KRow encodes a row of whole Q8_K blocks: quantizeQ8KRowGo, or
// an assembly version bit-identical to it (set up by the assembly's init).
var quantizeQ8KRow = quantizeQ8KRowGo

// quantizeQ8KRowGo encodes len(x)/256 Q8_K blocks with quantizeBlockQ8K.
func quantizeQ8KRowGo(dst []byte, x []float32) {
	for b := 0; b+QKK <= len(x); b += QKK {
		quantizeBlockQ8K(dst[b/QKK*292:(b/QKK+1)*292], x[b:b+QKK])
	}
}

// Q8_K: f32 d, 256 × int8, 16 × int16 sums of each 16 quants.
// d = max/−127 with max the signed element of largest magnitude.
func quantizeBlockQ8K(dst []byte, x []float32) {
	maxv, amax := absMax(x)
	if amax == 0 {
		clear(dst)
		return
	}
	iscale := -127 / maxv
	for j, v := range x {
		dst[4+j] = byte(int8(min(127, nearestIntSmall(iscale*v))))
	}
	for g := range QKK / 16 {
		var s int
		for _, q := range dst[4+16*g : 4+16*g+16] {
			s += int(int8(q))
		}
		binary.LittleEndian.PutUint16(dst[4+QKK+2*g:], uint16(int16(s)))
	}
	binary.LittleEndian.PutUint32(dst, math.Float32bits(1/iscale))
}

func dequantizeBlockQ8K(y []float32, b []byte) {
	d := math.Float32frombits(binary.LittleEndian.Uint32(b))
	for j := range QKK {
		y[j] = float32(int8(b[4+j])) * d
	}
}
