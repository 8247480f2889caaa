package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is an element type name as used by safetensors headers ("F32",
// "BF16", ...). PyTorch tensors are reported with the same names.
type DType string

// Element types understood by the safetensors and PyTorch readers.
const (
	DTypeF64    DType = "F64"
	DTypeF32    DType = "F32"
	DTypeF16    DType = "F16"
	DTypeBF16   DType = "BF16"
	DTypeI64    DType = "I64"
	DTypeI32    DType = "I32"
	DTypeI16    DType = "I16"
	DTypeI8     DType = "I8"
	DTypeU64    DType = "U64"
	DTypeU32    DType = "U32"
	DTypeU16    DType = "U16"
	DTypeU8     DType = "U8"
	DTypeBool   DType = "BOOL"
	DTypeF8E4M3 DType = "F8_E4M3"
	DTypeF8E5M2 DType = "F8_E5M2"
)

// Size returns the bytes per element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case DTypeF64, DTypeI64, DTypeU64:
		return 8
	case DTypeF32, DTypeI32, DTypeU32:
		return 4
	case DTypeF16, DTypeBF16, DTypeI16, DTypeU16:
		return 2
	case DTypeI8, DTypeU8, DTypeBool, DTypeF8E4M3, DTypeF8E5M2:
		return 1
	}
	return 0
}

// DecodeFloat32s converts little-endian F32, F16, BF16 or F64 data to
// float32s.
func DecodeFloat32s(dt DType, data []byte) ([]float32, error) {
	size := dt.Size()
	if size == 0 {
		return nil, fmt.Errorf("unknown dtype %q", dt)
	}
	if len(data)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %s elements", len(data), dt)
	}
	le := binary.LittleEndian
	out := make([]float32, len(data)/size)
	switch dt {
	case DTypeF32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(data[4*i:]))
		}
	case DTypeF16:
		for i := range out {
			out[i] = HalfToFloat32(le.Uint16(data[2*i:]))
		}
	case DTypeBF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(data[2*i:])) << 16)
		}
	case DTypeF64:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(data[8*i:])))
		}
	default:
		return nil, fmt.Errorf("dtype %s is not a float type", dt)
	}
	return out, nil
}

// EncodeFloat32s returns xs as little-endian F32 bytes.
func EncodeFloat32s(xs []float32) []byte {
	out := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32 exactly,
// including subnormals, infinities and NaNs.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: value is mant * 2^-24.
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}
