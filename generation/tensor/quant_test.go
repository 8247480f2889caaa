package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func gaussian(r *rand.Rand, n int, sigma float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * sigma)
	}
	return x
}

func relRMSError(want, got []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(want[i]) - float64(got[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}

var supportedTypes = []DType{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K}

func TestQuantizeRoundTripError(t *testing.T) {
	// Upper bounds on relative RMS error for Gaussian data (and the lower
	// bounds catch a type that silently stores floats).
	tests := []struct {
		t        DType
		min, max float64
	}{
		{F32, 0, 0},
		{F16, 1e-5, 5e-4},
		{BF16, 5e-4, 4e-3},
		{Q8_0, 1e-3, 0.01},
		{Q8_K, 1e-3, 0.01},
		{Q8_1, 1e-3, 0.01},
		{Q5_1, 0.01, 0.05},
		{Q4_1, 0.04, 0.10},
		{Q6_K, 5e-3, 0.02},
		{Q5_K, 0.015, 0.05},
		{Q5_0, 0.01, 0.06},
		{Q4_K, 0.03, 0.10},
		{Q4_0, 0.05, 0.12},
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := gaussian(r, 64*QKK, 1.7)
	for _, tc := range tests {
		t.Run(tc.t.String(), func(t *testing.T) {
			q, err := Quantize(tc.t, x)
			if err != nil {
				t.Fatal(err)
			}
			if len(q) != RowBytes(tc.t, len(x)) {
				t.Fatalf("encoded %d bytes, want %d", len(q), RowBytes(tc.t, len(x)))
			}
			y := make([]float32, len(x))
			if err := Dequantize(tc.t, q, y); err != nil {
				t.Fatal(err)
			}
			e := relRMSError(x, y)
			t.Logf("%s relative RMS error %.5f", tc.t, e)
			if e < tc.min || e > tc.max {
				t.Fatalf("relative RMS error %.5f outside [%g, %g]", e, tc.min, tc.max)
			}
		})
	}
}

func TestQuantizeZerosAndErrors(t *testing.T) {
	for _, dt := range supportedTypes {
		zeros := make([]float32, QKK)
		q, err := Quantize(dt, zeros)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		y := make([]float32, QKK)
		for i := range y {
			y[i] = 99
		}
		if err := Dequantize(dt, q, y); err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		for i, v := range y {
			if v != 0 {
				t.Fatalf("%s: zeros decode to %g at %d", dt, v, i)
			}
		}
	}
	if _, err := Quantize(Q4_K, make([]float32, 100)); err == nil || !strings.Contains(err.Error(), "block size") {
		t.Errorf("Quantize(Q4_K, 100 values) error = %v, want block size error", err)
	}
	if _, err := Quantize(Q2_K, make([]float32, QKK)); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Quantize(Q2_K) error = %v, want not supported", err)
	}
	if err := Dequantize(Q8_0, make([]byte, 33), make([]float32, 32)); err == nil {
		t.Error("Dequantize with short data succeeded")
	}
	if _, err := Quantize(DType(99), make([]float32, 32)); err == nil {
		t.Error("Quantize(unknown type) succeeded")
	}
}

func TestTypeTraits(t *testing.T) {
	tests := []struct {
		t           DType
		name        string
		size, bytes int
		supported   bool
	}{
		{F32, "F32", 1, 4, true}, {F16, "F16", 1, 2, true}, {BF16, "BF16", 1, 2, true},
		{Q4_0, "Q4_0", 32, 18, true}, {Q4_1, "Q4_1", 32, 20, true}, {Q5_0, "Q5_0", 32, 22, true},
		{Q5_1, "Q5_1", 32, 24, true}, {Q8_0, "Q8_0", 32, 34, true}, {Q8_1, "Q8_1", 32, 36, true},
		{Q2_K, "Q2_K", 256, 84, false}, {Q3_K, "Q3_K", 256, 110, false}, {Q4_K, "Q4_K", 256, 144, true},
		{Q5_K, "Q5_K", 256, 176, true}, {Q6_K, "Q6_K", 256, 210, true}, {Q8_K, "Q8_K", 256, 292, true},
	}
	for _, tc := range tests {
		if tc.t.String() != tc.name || tc.t.BlockSize() != tc.size || tc.t.BlockBytes() != tc.bytes || tc.t.Supported() != tc.supported {
			t.Errorf("%d: got %s %d %d %v, want %s %d %d %v", tc.t, tc.t, tc.t.BlockSize(), tc.t.BlockBytes(), tc.t.Supported(),
				tc.name, tc.size, tc.bytes, tc.supported)
		}
	}
	if got := RowBytes(Q4_K, 896*4); got != 896*4/256*144 {
		t.Errorf("RowBytes(Q4_K, 3584) = %d", got)
	}
	if got := RowBytes(Q4_0, 33); got != -1 {
		t.Errorf("RowBytes(Q4_0, 33) = %d, want -1", got)
	}
	if got := DType(77).String(); got != "DType(77)" {
		t.Errorf("unknown String = %q", got)
	}
}

func f16le(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// Hand-built blocks: inputs chosen so that the scale is exactly 1 (or −1)
// and every quant can be worked out by hand.
func TestQuantizeQ8_0Layout(t *testing.T) {
	x := make([]float32, 32)
	x[0] = 127 // amax 127 → d = 1
	x[1] = -3.5
	x[2] = 2.5
	x[3] = 0.4999
	x[4] = -126.6
	x[31] = 5
	want := append(f16le(0x3c00), make([]byte, 32)...)
	want[2+0] = 127
	want[2+1] = 0xfc // −4: ties away from zero
	want[2+2] = 3
	want[2+3] = 0
	want[2+4] = 0x81 // −127
	want[2+31] = 5
	got, err := Quantize(Q8_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q8_0 block\n got %x\nwant %x", got, want)
	}
}

func TestQuantizeQ4_0Layout(t *testing.T) {
	x := make([]float32, 32)
	x[0] = -8 // signed max −8 → d = 1, q = min(15, trunc(x + 8.5))
	x[1] = 7
	x[2] = 7.4
	x[3] = -7.6
	x[16] = 0
	x[17] = -0.5
	x[18] = 0.49
	x[31] = 3.5
	q := [32]byte{}
	for i := range q {
		q[i] = 8
	}
	q[0], q[1], q[2], q[3] = 0, 15, 15, 0
	q[16], q[17], q[18], q[31] = 8, 8, 8, 12
	want := f16le(0x3c00)
	for j := range 16 {
		want = append(want, q[j]|q[j+16]<<4)
	}
	got, err := Quantize(Q4_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q4_0 block\n got %x\nwant %x", got, want)
	}
	// A positive signed max gives a negative scale: d = 8/−8 = −1.
	x[0] = 8
	got, _ = Quantize(Q4_0, x)
	if binary.LittleEndian.Uint16(got) != 0xbc00 || got[2]&0xf != 0 {
		t.Fatalf("Q4_0 with max +8: d=%#04x q0=%d, want d=0xbc00 q0=0", binary.LittleEndian.Uint16(got), got[2]&0xf)
	}
}

func TestQuantizeQ4_1Layout(t *testing.T) {
	x := make([]float32, 32)
	for i := range x {
		x[i] = 3
	}
	x[0], x[1] = -1, 14 // min −1, max 14 → d = 1, m = −1, q = trunc(x + 1 + 0.5)
	x[2], x[17], x[31] = 2.4, 2.5, -0.6
	q := [32]byte{}
	for i := range q {
		q[i] = 4
	}
	q[0], q[1], q[2], q[17], q[31] = 0, 15, 3, 4, 0
	want := append(f16le(0x3c00), f16le(0xbc00)...)
	for j := range 16 {
		want = append(want, q[j]|q[j+16]<<4)
	}
	got, err := Quantize(Q4_1, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q4_1 block\n got %x\nwant %x", got, want)
	}
}

func TestQuantizeQ5_1Layout(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1] = -2, 29 // min −2, max 29 → d = 1, m = −2, q = trunc(x + 2 + 0.5)
	x[20] = 14.5        // → 17: fifth bit set
	var qh uint32
	want := append(f16le(0x3c00), f16le(0xc000)...)
	q := [32]uint32{}
	for i := range q {
		q[i] = 2
	}
	q[0], q[1], q[20] = 0, 31, 17
	for j, v := range q {
		qh |= (v >> 4) << j
	}
	want = binary.LittleEndian.AppendUint32(want, qh)
	for j := range 16 {
		want = append(want, byte(q[j]&0xf)|byte(q[j+16]&0xf)<<4)
	}
	got, err := Quantize(Q5_1, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q5_1 block\n got %x\nwant %x", got, want)
	}
}

func TestQuantizeQ8_1Layout(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1], x[2] = -127, 3.5, 10 // d = 1; s = d·(−127 + 4 + 10) = −113
	got, err := Quantize(Q8_1, x)
	if err != nil {
		t.Fatal(err)
	}
	want := append(f16le(0x3c00), f16le(F32ToF16(-113))...)
	want = append(want, 0x81, 4, 10)
	want = append(want, make([]byte, 29)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("Q8_1 block\n got %x\nwant %x", got, want)
	}
}

func TestQuantizeQ5_0Layout(t *testing.T) {
	x := make([]float32, 32)
	x[0] = -16 // d = 1, q = min(31, trunc(x + 16.5))
	x[1] = 15
	x[17] = 1
	x[20] = -1.2
	q := [32]uint32{}
	for i := range q {
		q[i] = 16
	}
	q[0], q[1], q[17], q[20] = 0, 31, 17, 15
	var qh uint32
	for j, v := range q {
		qh |= (v >> 4) << j
	}
	want := append(f16le(0x3c00), binary.LittleEndian.AppendUint32(nil, qh)...)
	for j := range 16 {
		want = append(want, byte(q[j]&0xf)|byte(q[j+16]&0xf)<<4)
	}
	got, err := Quantize(Q5_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q5_0 block\n got %x\nwant %x", got, want)
	}
}

// With integer inputs 0…15 (each sub-block holding a 0 and a 15) the exact
// fit is scale 1, min 0; the super-block scale is then 1/63 and every
// 6-bit sub-block scale is 63.
func TestQuantizeQ4KLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, QKK)
	L := make([]byte, QKK)
	for i := range x {
		L[i] = byte(r.IntN(16))
		if i%32 == 0 {
			L[i] = 0
		} else if i%32 == 1 {
			L[i] = 15
		}
		x[i] = float32(L[i])
	}
	want := append(f16le(0x2410), f16le(0)...) // fp16(1/63) = 0x2410
	want = append(want, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x0f, 0x0f, 0x0f, 0x0f)
	for c := range 4 {
		for l := range 32 {
			want = append(want, L[64*c+l]|L[64*c+32+l]<<4)
		}
	}
	got, err := Quantize(Q4_K, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q4_K block\n got %x\nwant %x", got, want)
	}
}

// As for Q4_K with 5-bit levels 0…31: scale 1, min 0, every 6-bit scale 63;
// the fifth bits go to qh (bit j of qh[l] for element 32·j+l).
func TestQuantizeQ5KLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	x := make([]float32, QKK)
	L := make([]byte, QKK)
	for i := range x {
		L[i] = byte(r.IntN(32))
		if i%32 == 0 {
			L[i] = 0
		} else if i%32 == 1 {
			L[i] = 31
		}
		x[i] = float32(L[i])
	}
	want := append(f16le(0x2410), f16le(0)...)
	want = append(want, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x0f, 0x0f, 0x0f, 0x0f)
	qh := make([]byte, 32)
	for i, v := range L {
		qh[i%32] |= (v >> 4) << (i / 32)
	}
	want = append(want, qh...)
	for c := range 4 {
		for l := range 32 {
			want = append(want, L[64*c+l]&0xf|(L[64*c+32+l]&0xf)<<4)
		}
	}
	got, err := Quantize(Q5_K, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q5_K block\n got %x\nwant %x", got, want)
	}
}

// With integers in [−32, 31] (each 16-group holding a −32) every group fits
// exactly with scale 1; the super-block d is then −1/128 and every int8
// scale −128.
func TestQuantizeQ6KLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, QKK)
	L := make([]byte, QKK) // stored levels, q + 32
	for i := range x {
		q := r.IntN(64) - 32
		if i%16 == 3 {
			q = -32
		}
		x[i] = float32(q)
		L[i] = byte(q + 32)
	}
	want := make([]byte, 210)
	for h := 0; h < 2; h++ {
		ql, qh, l0 := want[64*h:], want[128+32*h:], L[128*h:]
		for l := range 32 {
			ql[l] = l0[l]&0xf | (l0[l+64]&0xf)<<4
			ql[l+32] = l0[l+32]&0xf | (l0[l+96]&0xf)<<4
			qh[l] = l0[l]>>4 | (l0[l+32]>>4)<<2 | (l0[l+64]>>4)<<4 | (l0[l+96]>>4)<<6
		}
	}
	for i := 192; i < 208; i++ {
		want[i] = 0x80
	}
	binary.LittleEndian.PutUint16(want[208:], 0xa000) // −2^−7
	got, err := Quantize(Q6_K, x)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Q6_K block\n got %x\nwant %x", got, want)
	}
	y := make([]float32, QKK)
	if err := Dequantize(Q6_K, got, y); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if y[i] != x[i] {
			t.Fatalf("Q6_K decode[%d] = %g, want %g", i, y[i], x[i])
		}
	}
}

func TestQuantizeQ8KLayout(t *testing.T) {
	x := make([]float32, QKK)
	for i := range x {
		x[i] = float32(i%64) - 20
	}
	x[5] = -127 // signed max −127 → iscale = 1, d = 1
	x[6] = 2.5  // ties to even → 2
	x[7] = 3.5  // → 4
	got, err := Quantize(Q8_K, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Float32frombits(binary.LittleEndian.Uint32(got)); d != 1 {
		t.Fatalf("Q8_K d = %g, want 1", d)
	}
	for i, v := range x {
		want := int8(math.RoundToEven(float64(v)))
		if int8(got[4+i]) != want {
			t.Fatalf("Q8_K q[%d] = %d, want %d", i, int8(got[4+i]), want)
		}
	}
	for g := range 16 {
		var s int
		for i := range 16 {
			s += int(int8(got[4+16*g+i]))
		}
		if b := int(int16(binary.LittleEndian.Uint16(got[4+256+2*g:]))); b != s {
			t.Fatalf("Q8_K bsums[%d] = %d, want %d", g, b, s)
		}
	}
}

// Decoding hand-assembled bytes, using the formats' documented formulas.
func TestDequantizeKnownBytes(t *testing.T) {
	t.Run("Q4_0", func(t *testing.T) {
		b := append(f16le(0x3800), make([]byte, 16)...) // d = 0.5
		b[2] = 0x3f                                     // element 0: 15 → 3.5, element 16: 3 → −2.5
		y := make([]float32, 32)
		if err := Dequantize(Q4_0, b, y); err != nil {
			t.Fatal(err)
		}
		if y[0] != 3.5 || y[16] != -2.5 || y[1] != -4 {
			t.Fatalf("got y[0]=%g y[16]=%g y[1]=%g, want 3.5 −2.5 −4", y[0], y[16], y[1])
		}
	})
	t.Run("Q5_0", func(t *testing.T) {
		b := append(f16le(0x4000), 0, 0, 0x02, 0) // d = 2; qh bit 17 set
		b = append(b, make([]byte, 16)...)
		b[6+1] = 0x5a // element 1: 0xa → 10−16 = −6 → −12; element 17: 0x5|0x10 = 21 → 5 → 10
		y := make([]float32, 32)
		if err := Dequantize(Q5_0, b, y); err != nil {
			t.Fatal(err)
		}
		if y[1] != -12 || y[17] != 10 || y[0] != -32 {
			t.Fatalf("got y[1]=%g y[17]=%g y[0]=%g, want −12 10 −32", y[1], y[17], y[0])
		}
	})
	t.Run("Q4_K", func(t *testing.T) {
		b := make([]byte, 144)
		binary.LittleEndian.PutUint16(b[0:], 0x3c00) // d = 1
		binary.LittleEndian.PutUint16(b[2:], 0x3800) // dmin = 0.5
		// sub-block 1: sc = 5, m = 3 (low 6 bits of bytes 1 and 5);
		// sub-block 6: sc = 0x2a = 42, m = 0x31 = 49: low nibbles in byte 10,
		// high two bits in the top bits of bytes 2 (sc) and 6 (m).
		b[4+1], b[4+5] = 5, 3
		b[4+10] = 0xa | 0x1<<4
		b[4+2] |= 2 << 6
		b[4+6] |= 3 << 6
		b[16+0] = 0x70    // element 32 (sub-block 1, high nibble of byte 0): q = 7
		b[16+96+5] = 0x0c // element 192+5 (sub-block 6 = chunk 3, low nibble): q = 12
		y := make([]float32, QKK)
		if err := Dequantize(Q4_K, b, y); err != nil {
			t.Fatal(err)
		}
		if want := float32(5*7) - 0.5*3; y[32] != want {
			t.Errorf("y[32] = %g, want %g", y[32], want)
		}
		if want := float32(42*12) - 0.5*49; y[197] != want {
			t.Errorf("y[197] = %g, want %g", y[197], want)
		}
		if want := float32(0) - 0.5*49; y[198] != want {
			t.Errorf("y[198] = %g, want %g", y[198], want)
		}
	})
	t.Run("Q5_K", func(t *testing.T) {
		b := make([]byte, 176)
		binary.LittleEndian.PutUint16(b[0:], 0x4000) // d = 2
		binary.LittleEndian.PutUint16(b[2:], 0x3c00) // dmin = 1
		b[4+3], b[4+7] = 9, 4                        // sub-block 3: sc 9, m 4
		// element 96+7 (sub-block 3 = chunk 1, high nibble of qs[32+7]),
		// fifth bit in bit 3 of qh[7]: q = 0x6 | 0x10 = 22.
		b[48+32+7] = 0x60
		b[16+7] = 1 << 3
		y := make([]float32, QKK)
		if err := Dequantize(Q5_K, b, y); err != nil {
			t.Fatal(err)
		}
		if want := float32(2*9*22) - 4; y[103] != want {
			t.Errorf("y[103] = %g, want %g", y[103], want)
		}
		if want := float32(-4); y[104] != want {
			t.Errorf("y[104] = %g, want %g", y[104], want)
		}
	})
	t.Run("Q6_K", func(t *testing.T) {
		b := make([]byte, 210)
		binary.LittleEndian.PutUint16(b[208:], 0x3800) // d = 0.5
		b[192+13] = 0xfd                               // scale of elements 208…223 = −3
		// element 128+64+17 = 209: second half, l = 17, q3 → high nibble of
		// ql[64+17], bits 4–5 of qh[32+17].
		b[64+17] = 0x90
		b[128+32+17] = 0x2 << 4
		y := make([]float32, QKK)
		if err := Dequantize(Q6_K, b, y); err != nil {
			t.Fatal(err)
		}
		if want := float32(0.5 * -3 * (0x29 - 32)); y[209] != want {
			t.Errorf("y[209] = %g, want %g", y[209], want)
		}
	})
}

func TestRoundingHelpers(t *testing.T) {
	tests := []float32{0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, -0.49999997, 126.5, -127.5,
		3.4999998, 1e9, -1e9, 8388607.5}
	for _, v := range tests {
		if got, want := roundHalfAway(v), int(math.Round(float64(v))); got != want {
			t.Errorf("roundHalfAway(%v) = %d, want %d", v, got, want)
		}
		if math.Abs(float64(v)) < 1<<28 {
			if got, want := roundHalfAwaySmall(v), int(math.Round(float64(v))); got != want {
				t.Errorf("roundHalfAwaySmall(%v) = %d, want %d", v, got, want)
			}
		}
		if math.Abs(float64(v)) < 1<<22 {
			if got, want := nearestIntSmall(v), int(math.RoundToEven(float64(v))); got != want {
				t.Errorf("nearestIntSmall(%v) = %d, want %d", v, got, want)
			}
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 100000 {
		v := float32(r.NormFloat64() * 100)
		if roundHalfAway(v) != int(math.Round(float64(v))) || roundHalfAwaySmall(v) != roundHalfAway(v) || nearestIntSmall(v) != int(math.RoundToEven(float64(v))) {
			t.Fatalf("rounding mismatch at %v", v)
		}
	}
}

// TestQuantizeParallelMatchesSerial checks that the multi-threaded path for
// large inputs encodes exactly like block-by-block encoding.
func TestQuantizeParallelMatchesSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	x := gaussian(r, 80*QKK, 1)
	for _, dt := range []DType{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K} {
		got, err := Quantize(dt, x)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, RowBytes(dt, len(x)))
		quantizeInto(dt, want, x)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: parallel encoding differs from serial", dt)
		}
	}
}

func TestStorageType(t *testing.T) {
	for _, tc := range []struct {
		want DType
		cols int
		got  DType
	}{
		{Q4_K, 4864, Q4_K},
		{Q4_K, 896, Q5_0},
		{Q6_K, 896, Q8_0},
		{Q8_K, 896, Q8_0},
		{Q4_0, 896, Q4_0},
		{Q4_0, 100, F16},
		{Q4_K, 100, F16}, // Q5_0 does not fit either
		{F32, 7, F32},
	} {
		if got := StorageType(tc.want, tc.cols); got != tc.got {
			t.Errorf("StorageType(%s, %d) = %s, want %s", tc.want, tc.cols, got, tc.got)
		}
	}
}

// TestQ8KRowQuantizerMatchesReference holds the active Q8_K row quantizer
// (assembly on amd64 with AVX2) to quantizeBlockQ8K byte for byte: random
// blocks at many scales, an all-zero block, ties of magnitude with either
// sign first, halves that round to even, subnormal and huge values, and
// blocks with a NaN or an infinity (which the assembly leaves to Go).
func TestQ8KRowQuantizerMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	var blocks [][]float32
	for _, scale := range []float64{1e-3, 0.5, 3, 1e4} {
		for range 3 {
			blocks = append(blocks, gaussian(r, QKK, scale))
		}
	}
	blocks = append(blocks, make([]float32, QKK)) // all zero
	tie := gaussian(r, QKK, 1)
	tie[3], tie[200] = -9, 9 // the first of a tie sets the sign
	blocks = append(blocks, tie)
	tie2 := gaussian(r, QKK, 1)
	tie2[17], tie2[18] = 9, -9
	blocks = append(blocks, tie2)
	halves := make([]float32, QKK)
	for i := range halves {
		halves[i] = float32(i%64) - 31.5 // with max −127 below, v·iscale = v
	}
	halves[255] = -127
	blocks = append(blocks, halves)
	tiny := gaussian(r, QKK, 1)
	for i := range tiny {
		tiny[i] *= 1e-39 // subnormal: the inverse scale overflows
	}
	blocks = append(blocks, tiny)
	huge := gaussian(r, QKK, 1e36)
	blocks = append(blocks, huge)
	nan := gaussian(r, QKK, 1)
	nan[100] = float32(math.NaN())
	blocks = append(blocks, nan)
	inf := gaussian(r, QKK, 1)
	inf[7] = float32(math.Inf(-1))
	blocks = append(blocks, inf)
	blocks = append(blocks, gaussian(r, QKK, 2)) // after the Go-encoded ones
	// One row of all of them, and each block alone.
	var row []float32
	for _, b := range blocks {
		row = append(row, b...)
	}
	for _, x := range append([][]float32{row}, blocks...) {
		nb := len(x) / QKK
		got, want := make([]byte, nb*292), make([]byte, nb*292)
		for i := range got {
			got[i] = 0xa5 // every byte must be written
		}
		quantizeQ8KRow(got, x)
		quantizeQ8KRowGo(want, x)
		for b := range nb {
			if g, w := got[b*292:(b+1)*292], want[b*292:(b+1)*292]; !bytes.Equal(g, w) {
				t.Fatalf("block %d of %d: %x\nwant %x", b, nb, g, w)
			}
		}
	}
}
