package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestF32ToF16EdgeValues(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"max finite", 65504, 0x7bff},
		{"rounds down below overflow tie", 65519, 0x7bff},
		{"overflow tie rounds to inf", 65520, 0x7c00},
		{"overflow", 1e6, 0x7c00},
		{"negative overflow", -1e6, 0xfc00},
		{"smallest normal", 1.0 / (1 << 14), 0x0400},
		{"largest subnormal", 1023.0 / (1 << 24), 0x03ff},
		{"smallest subnormal", 1.0 / (1 << 24), 0x0001},
		{"half smallest subnormal ties to zero", 1.0 / (1 << 25), 0x0000},
		{"1.5 x half smallest subnormal", 1.5 / (1 << 25), 0x0001},
		{"subnormal tie to even (down)", 2.5 / (1 << 24), 0x0002},
		{"subnormal tie to even (up)", 3.5 / (1 << 24), 0x0004},
		{"f32 subnormal", math.Float32frombits(1), 0x0000},
		{"tie to even down", 1 + 1.0/(1<<11), 0x3c00},
		{"tie to even up", 1 + 3.0/(1<<11), 0x3c02},
		{"above tie", 1 + 1.0/(1<<11) + 1.0/(1<<20), 0x3c01},
		{"inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := F32ToF16(tc.in); got != tc.want {
				t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", tc.in, got, tc.want)
			}
		})
	}
	nan := F32ToF16(float32(math.NaN()))
	if nan&0x7c00 != 0x7c00 || nan&0x3ff == 0 {
		t.Fatalf("F32ToF16(NaN) = %#04x, not a NaN", nan)
	}
	if v := F16ToF32(0x7e00); !math.IsNaN(float64(v)) {
		t.Fatalf("F16ToF32(0x7e00) = %g, want NaN", v)
	}
}

func TestF16ToF32KnownValues(t *testing.T) {
	tests := []struct {
		in   uint16
		want float64
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xbc00, -1}, {0x3555, 0.333251953125}, {0x7bff, 65504},
		{0x0001, math.Ldexp(1, -24)}, {0x03ff, 1023 * math.Ldexp(1, -24)}, {0x8001, -math.Ldexp(1, -24)},
		{0x0400, math.Ldexp(1, -14)}, {0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	}
	for _, tc := range tests {
		if got := F16ToF32(tc.in); float64(got) != tc.want {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", tc.in, got, tc.want)
		}
	}
}

// TestF16RoundTripAllValues checks that every non-NaN half survives
// half → float32 → half.
func TestF16RoundTripAllValues(t *testing.T) {
	for h := range 1 << 16 {
		v := F16ToF32(uint16(h))
		if math.IsNaN(float64(v)) {
			continue
		}
		if back := F32ToF16(v); back != uint16(h) {
			t.Fatalf("round trip %#04x → %g → %#04x", h, v, back)
		}
	}
}

// TestF32ToF16NearestEven compares against an oracle that searches the
// sorted finite halves for the nearest one (ties to the even pattern).
func TestF32ToF16NearestEven(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	oracle := func(f float32) uint16 {
		a := math.Abs(float64(f))
		var sign uint16
		if math.Signbit(float64(f)) {
			sign = 0x8000
		}
		if a >= 65520 {
			return sign | 0x7c00
		}
		lo, hi := 0, 0x7bff // largest h with value(h) <= a
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if float64(F16ToF32(uint16(mid))) <= a {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		if lo == 0x7bff {
			return sign | 0x7bff
		}
		dl := a - float64(F16ToF32(uint16(lo)))
		du := float64(F16ToF32(uint16(lo+1))) - a
		if du < dl || (du == dl && lo&1 == 1) {
			lo++
		}
		return sign | uint16(lo)
	}
	for i := range 200000 {
		// Spread exponents over the whole half range and beyond.
		f := float32(r.NormFloat64() * math.Ldexp(1, r.IntN(44)-28))
		if i%7 == 0 { // exact ties
			f = F16ToF32(uint16(r.IntN(0x7bff))) + float32(math.Ldexp(1, -25))
		}
		if got, want := F32ToF16(f), oracle(f); got != want {
			t.Fatalf("F32ToF16(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"tie to even down", 1 + 1.0/(1<<8), 0x3f80},
		{"tie to even up", 1 + 3.0/(1<<8), 0x3f82},
		{"above tie", 1 + 1.0/(1<<8) + 1.0/(1<<20), 0x3f81},
		{"max float rounds to inf", math.MaxFloat32, 0x7f80},
		{"-inf", float32(math.Inf(-1)), 0xff80},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"f32 subnormal", math.Float32frombits(0x00018000), 0x0002},
	}
	for _, tc := range tests {
		if got := F32ToBF16(tc.in); got != tc.want {
			t.Errorf("%s: F32ToBF16(%g) = %#04x, want %#04x", tc.name, tc.in, got, tc.want)
		}
	}
	if n := F32ToBF16(float32(math.NaN())); n&0x7f80 != 0x7f80 || n&0x7f == 0 {
		t.Errorf("F32ToBF16(NaN) = %#04x, not a NaN", n)
	}
	if v := BF16ToF32(0xc040); v != -3 {
		t.Errorf("BF16ToF32(0xc040) = %g, want -3", v)
	}
}
