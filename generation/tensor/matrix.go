package tensor

import (
	"fmt"
	"sync"
	"unsafe"
)

// Matrix is a weight in GGML layout: Rows rows of Cols elements, each row
// stored contiguously as Cols/Type.BlockSize() blocks of Type (a GGUF tensor
// of shape [Cols, Rows]). Data is usually a view into a mapped model file
// and is never modified by this package.
type Matrix struct {
	Type       DType
	Rows, Cols int
	Data       []byte
	// strips, when set, holds the rows in the row-interleaved layout of
	// the fastest decode kernel (see Interleave); freeStrips, if set,
	// returns its memory to the system; arena, if set, is the arena
	// strips lies in (kept alive by m).
	strips     []byte
	freeStrips func()
	arena      *Arena
}

// NewMatrix wraps data as a rows×cols matrix of type t, checking that t is
// supported, cols is a whole number of blocks and len(data) matches.
func NewMatrix(t DType, rows, cols int, data []byte) (*Matrix, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("tensor: matrix %d×%d %s: dimensions must be positive", rows, cols, t)
	}
	if err := checkType(t, cols); err != nil {
		return nil, fmt.Errorf("tensor: matrix %d×%d: %w", rows, cols, err)
	}
	if want := rows * RowBytes(t, cols); len(data) != want {
		return nil, fmt.Errorf("tensor: matrix %d×%d %s needs %d bytes, got %d", rows, cols, t, want, len(data))
	}
	return &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// NewF32Matrix views a row-major float32 slice as a rows×cols F32 matrix
// without copying.
func NewF32Matrix(rows, cols int, data []float32) (*Matrix, error) {
	if len(data) != rows*cols {
		return nil, fmt.Errorf("tensor: F32 matrix %d×%d needs %d values, got %d", rows, cols, rows*cols, len(data))
	}
	return NewMatrix(F32, rows, cols, float32Bytes(data))
}

// rowData returns the encoded bytes of row i.
func (m *Matrix) rowData(i int) []byte {
	rb := RowBytes(m.Type, m.Cols)
	return m.Data[i*rb : (i+1)*rb]
}

// Row dequantizes row i into dst[:m.Cols] (an embedding lookup). It panics
// if i is out of range or dst is shorter than m.Cols.
func (m *Matrix) Row(i int, dst []float32) {
	if i < 0 || i >= m.Rows {
		panic(fmt.Sprintf("tensor: row %d out of range [0,%d)", i, m.Rows))
	}
	if len(dst) < m.Cols {
		panic(fmt.Sprintf("tensor: Row destination has %d elements, need %d", len(dst), m.Cols))
	}
	if i < m.stripRowCount() {
		buf := rowBuffers.Get().(*[]byte)
		if rb := RowBytes(m.Type, m.Cols); cap(*buf) < rb {
			*buf = make([]byte, rb)
		}
		dequantizeInto(m.Type, m.encodedRow(i, *buf), dst[:m.Cols])
		rowBuffers.Put(buf)
		return
	}
	dequantizeInto(m.Type, m.rowData(i), dst[:m.Cols])
}

// rowBuffers are scratch rows for rows rebuilt from strips.
var rowBuffers = sync.Pool{New: func() any { return new([]byte) }}

// float32Bytes views a float32 slice as its little-endian bytes (no copy).
func float32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// bytesFloat32 views n float32 values stored in b (no copy).
func bytesFloat32(b []byte, n int) []float32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

// bytesUint16 views n uint16 values stored in b (no copy).
func bytesUint16(b []byte, n int) []uint16 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
}
