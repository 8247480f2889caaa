// Package gguf reads and writes the model file formats Zhiwen loads:
// GGUF (llama.cpp, versions 2 and 3), Hugging Face safetensors, and the
// tensor storages of PyTorch zip checkpoints (pytorch_model.bin).
//
// Readers memory-map their files where the operating system allows it, so
// tensor bytes are slices of the mapping and are never copied. Every parser
// validates offsets and lengths against the file size and reports bad input
// as an error naming the file and the offending item; none of them panics.
package gguf

import "fmt"

// TensorType is a GGML tensor element type as stored in GGUF tensor infos.
type TensorType uint32

// GGML tensor types. The numbering is fixed by the GGUF format.
const (
	TypeF32     TensorType = 0
	TypeF16     TensorType = 1
	TypeQ4_0    TensorType = 2
	TypeQ4_1    TensorType = 3
	TypeQ5_0    TensorType = 6
	TypeQ5_1    TensorType = 7
	TypeQ8_0    TensorType = 8
	TypeQ8_1    TensorType = 9
	TypeQ2_K    TensorType = 10
	TypeQ3_K    TensorType = 11
	TypeQ4_K    TensorType = 12
	TypeQ5_K    TensorType = 13
	TypeQ6_K    TensorType = 14
	TypeQ8_K    TensorType = 15
	TypeIQ2_XXS TensorType = 16
	TypeIQ2_XS  TensorType = 17
	TypeIQ3_XXS TensorType = 18
	TypeIQ1_S   TensorType = 19
	TypeIQ4_NL  TensorType = 20
	TypeIQ3_S   TensorType = 21
	TypeIQ2_S   TensorType = 22
	TypeIQ4_XS  TensorType = 23
	TypeI8      TensorType = 24
	TypeI16     TensorType = 25
	TypeI32     TensorType = 26
	TypeI64     TensorType = 27
	TypeF64     TensorType = 28
	TypeIQ1_M   TensorType = 29
	TypeBF16    TensorType = 30
	TypeTQ1_0   TensorType = 34
	TypeTQ2_0   TensorType = 35
)

type typeTraits struct {
	name       string
	blockSize  uint64 // elements per block
	blockBytes uint64 // bytes per block
}

// qk is the K-quant super-block size (QK_K in ggml).
const qk = 256

var tensorTypes = map[TensorType]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 2 + 16},
	TypeQ4_1:    {"Q4_1", 32, 2 + 2 + 16},
	TypeQ5_0:    {"Q5_0", 32, 2 + 4 + 16},
	TypeQ5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16},
	TypeQ8_0:    {"Q8_0", 32, 2 + 32},
	TypeQ8_1:    {"Q8_1", 32, 2 + 2 + 32},
	TypeQ2_K:    {"Q2_K", qk, qk/16 + qk/4 + 2 + 2},
	TypeQ3_K:    {"Q3_K", qk, qk/8 + qk/4 + 12 + 2},
	TypeQ4_K:    {"Q4_K", qk, 2 + 2 + 12 + qk/2},
	TypeQ5_K:    {"Q5_K", qk, 2 + 2 + 12 + qk/8 + qk/2},
	TypeQ6_K:    {"Q6_K", qk, qk/2 + qk/4 + qk/16 + 2},
	TypeQ8_K:    {"Q8_K", qk, 4 + qk + qk/16*2},
	TypeIQ2_XXS: {"IQ2_XXS", qk, 2 + qk/8*2},
	TypeIQ2_XS:  {"IQ2_XS", qk, 2 + qk/8*2 + qk/32},
	TypeIQ3_XXS: {"IQ3_XXS", qk, 2 + 3*qk/8},
	TypeIQ1_S:   {"IQ1_S", qk, 2 + qk/8 + qk/16},
	TypeIQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	TypeIQ3_S:   {"IQ3_S", qk, 2 + qk/4 + qk/32 + qk/8 + qk/64},
	TypeIQ2_S:   {"IQ2_S", qk, 2 + qk/4 + qk/32 + qk/32},
	TypeIQ4_XS:  {"IQ4_XS", qk, 2 + 2 + qk/64 + qk/2},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", qk, qk/8 + qk/16 + qk/32},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", qk, (qk-4*qk/64)/5 + qk/64 + 2},
	TypeTQ2_0:   {"TQ2_0", qk, qk/4 + 2},
}

// Known reports whether t is a GGML type this package knows the layout of.
func (t TensorType) Known() bool {
	_, ok := tensorTypes[t]
	return ok
}

// String returns the GGML name of the type ("Q4_K"), or "type(N)" if unknown.
func (t TensorType) String() string {
	if tr, ok := tensorTypes[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize returns the number of elements in one quantization block
// (1 for plain types), or 0 for unknown types.
func (t TensorType) BlockSize() uint64 { return tensorTypes[t].blockSize }

// BlockBytes returns the number of bytes one block occupies, or 0 for
// unknown types.
func (t TensorType) BlockBytes() uint64 { return tensorTypes[t].blockBytes }

// RowBytes returns the bytes needed for n elements. It returns 0 if the type
// is unknown or n is not a multiple of the block size.
func (t TensorType) RowBytes(n uint64) uint64 {
	tr, ok := tensorTypes[t]
	if !ok || n%tr.blockSize != 0 {
		return 0
	}
	return n / tr.blockSize * tr.blockBytes
}

// ParseTensorType maps a GGML type name such as "Q4_K" or "f16"
// (case-insensitive) to its TensorType.
func ParseTensorType(name string) (TensorType, error) {
	for t, tr := range tensorTypes {
		if equalFoldASCII(tr.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("gguf: unknown tensor type name %q", name)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
