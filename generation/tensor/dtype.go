package tensor

import "fmt"

// DType identifies an element encoding. Values are GGML type ids, so a DType
// read from a GGUF tensor info can be used directly.
type DType uint32

// GGML type ids. Only the types for which Supported reports true can be
// quantized, dequantized and multiplied; the others are named so that callers
// can report them.
const (
	F32  DType = 0
	F16  DType = 1
	Q4_0 DType = 2
	Q4_1 DType = 3
	Q5_0 DType = 6
	Q5_1 DType = 7
	Q8_0 DType = 8
	Q8_1 DType = 9
	Q2_K DType = 10
	Q3_K DType = 11
	Q4_K DType = 12
	Q5_K DType = 13
	Q6_K DType = 14
	Q8_K DType = 15
	BF16 DType = 30
)

// QK is the block length of the 32-element formats; QKK that of the K-quants.
const (
	QK  = 32
	QKK = 256
)

type typeTraits struct {
	name       string
	blockSize  int
	blockBytes int
	supported  bool
}

var traits = map[DType]typeTraits{
	F32:  {"F32", 1, 4, true},
	F16:  {"F16", 1, 2, true},
	BF16: {"BF16", 1, 2, true},
	Q4_0: {"Q4_0", QK, 2 + QK/2, true},
	Q4_1: {"Q4_1", QK, 4 + QK/2, true},
	Q5_0: {"Q5_0", QK, 2 + 4 + QK/2, true},
	Q5_1: {"Q5_1", QK, 4 + 4 + QK/2, true},
	Q8_0: {"Q8_0", QK, 2 + QK, true},
	Q8_1: {"Q8_1", QK, 4 + QK, true},
	Q2_K: {"Q2_K", QKK, QKK/16 + QKK/4 + 4, false},
	Q3_K: {"Q3_K", QKK, QKK/8 + QKK/4 + 12 + 2, false},
	Q4_K: {"Q4_K", QKK, 4 + 12 + QKK/2, true},
	Q5_K: {"Q5_K", QKK, 4 + 12 + QKK/8 + QKK/2, true},
	Q6_K: {"Q6_K", QKK, QKK/2 + QKK/4 + QKK/16 + 2, true},
	Q8_K: {"Q8_K", QKK, 4 + QKK + 2*QKK/16, true},
}

// String returns the GGML name of the type ("Q4_K"), or "DType(n)" for an
// unknown id.
func (t DType) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("DType(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for float types); 0
// for an unknown type.
func (t DType) BlockSize() int { return traits[t].blockSize }

// BlockBytes is the encoded size of one block in bytes; 0 for an unknown type.
func (t DType) BlockBytes() int { return traits[t].blockBytes }

// Supported reports whether this package can encode, decode and multiply t.
func (t DType) Supported() bool { return traits[t].supported }

// RowBytes is the encoded size of n elements of type t. It returns -1 when t
// is unknown or n is not a multiple of t's block size.
func RowBytes(t DType, n int) int {
	tr, ok := traits[t]
	if !ok || n < 0 || n%tr.blockSize != 0 {
		return -1
	}
	return n / tr.blockSize * tr.blockBytes
}

// checkType returns an error unless t is supported and n is a whole number
// of its blocks.
func checkType(t DType, n int) error {
	tr, ok := traits[t]
	if !ok {
		return fmt.Errorf("tensor: unknown type id %d", uint32(t))
	}
	if !tr.supported {
		return fmt.Errorf("tensor: type %s is not supported", tr.name)
	}
	if n%tr.blockSize != 0 {
		return fmt.Errorf("tensor: %d elements is not a multiple of %s's block size %d", n, tr.name, tr.blockSize)
	}
	return nil
}

// StorageType returns the type to store a matrix whose rows hold cols
// values when want is asked for: want itself when its blocks divide the
// row, else the fallback llama.cpp's quantizer uses (Q4_K→Q5_0,
// Q6_K/Q8_K→Q8_0, any other block type→F16). A Qwen2.5-0.5B "Q4_K_M"
// file is mostly Q5_0 for that reason: 896 is not a multiple of 256.
func StorageType(want DType, cols int) DType {
	t := want
	for cols%t.BlockSize() != 0 {
		switch t {
		case Q4_K:
			t = Q5_0
		case Q6_K, Q8_K:
			t = Q8_0
		default:
			t = F16
		}
	}
	return t
}
