package tensor

import (
	"fmt"
	"sync"
)

// Activations are n rows of activations already converted to the encoding
// a weight type multiplies against (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
// Q4_1/Q5_1, Q8_K for the K-quants, F32 for float weights). Quantizing once
// and calling MatMulQ for each weight that reads the same input (q, k and v;
// gate and up) saves the repeated conversion that MatMul does.
//
// An Activations may be reused with Load; it must not be loaded while a
// MatMulQ that reads it is running.
type Activations struct {
	typ  DType
	n    int
	cols int
	// data holds n rows of stride bytes in typ's encoding.
	data   []byte
	stride int
	// scales holds, for Q8_0, the n×(cols/32) block scales as float32, read
	// by the batched kernels so that they need not convert f16 per token.
	scales []float32
	// corr holds, for Q8_0, −128 times the sum of each four quants, eight
	// int32 per block (for the VNNI tile kernel), valid when hasCorr.
	corr    []int32
	hasCorr bool
	// packed is the layout of the packed VNNI kernel (matmul_amd64.go),
	// packedStride bytes per row, valid when hasPacked.
	packed       []byte
	packedStride int
	hasPacked    bool
	quant        quantizeJob
	q8           q8Job
	split        splitter
}

// QuantizeActivations converts x, n rows of len(x)/n values, to the
// activation encoding that weights of type t multiply against (t may also
// be that activation type itself: Q8_0, Q8_1, Q8_K or F32). It panics if
// len(x) is not n times a whole number of t's blocks.
func QuantizeActivations(t DType, x []float32, n int) *Activations {
	a := new(Activations)
	a.Load(t, x, n)
	return a
}

// Load replaces a's contents as QuantizeActivations does, reusing a's
// storage (no allocation once it is large enough).
func (a *Activations) Load(t DType, x []float32, n int) {
	at := activationType(t)
	if n < 1 || len(x)%n != 0 {
		panic(fmt.Sprintf("tensor: QuantizeActivations: %d values do not form %d rows", len(x), n))
	}
	cols := len(x) / n
	if !t.Supported() || RowBytes(at, cols) <= 0 {
		panic(fmt.Sprintf("tensor: QuantizeActivations: rows of %d values for %s weights (activations %s)", cols, t, at))
	}
	a.typ, a.n, a.cols = at, n, cols
	a.hasCorr, a.hasPacked = false, false
	a.stride = RowBytes(at, cols)
	need := n * a.stride
	if cap(a.data) < need {
		a.data = make([]byte, need)
	}
	a.data = a.data[:need]
	if at == F32 {
		copy(bytesFloat32(a.data, n*cols), x)
		a.scales = a.scales[:0]
		return
	}
	if at == Q8_0 && quantizeQ8_0Blocks != nil {
		nb := n * cols / QK
		if cap(a.scales) < nb {
			a.scales = make([]float32, nb)
		}
		if cap(a.corr) < 8*nb {
			a.corr = make([]int32, 8*nb)
		}
		a.scales, a.corr = a.scales[:nb], a.corr[:8*nb]
		a.q8 = q8Job{a: a, x: x}
		parallelFor(&a.split, &a.q8, n, max(1, 4096/cols))
		a.q8 = q8Job{}
		a.hasCorr = true
		a.prepare()
		return
	}
	a.quant = quantizeJob{t: at, src: x, cols: cols, dst: a.data, dstRows: a.stride}
	parallelFor(&a.split, &a.quant, n, 4)
	a.quant = quantizeJob{}
	if at == Q8_0 {
		nb := n * cols / QK
		if cap(a.scales) < nb {
			a.scales = make([]float32, nb)
		}
		a.scales = a.scales[:nb]
		for i := range a.scales {
			a.scales[i] = f16At(a.data[i*34:])
		}
		a.prepare()
	} else {
		a.scales = a.scales[:0]
	}
}

// prepare builds now what the active tile kernel for Q8_0 activations
// reads besides quants and scales, so that concurrent MatMulQ calls on a
// only read it.
func (a *Activations) prepare() {
	if k := activeTiles[Q8_0]; k.prepare != nil {
		k.prepare(a)
	}
}

// Type is the encoding of the activations (Q8_0, Q8_1, Q8_K or F32).
func (a *Activations) Type() DType { return a.typ }

// Rows is the number of activation rows (tokens).
func (a *Activations) Rows() int { return a.n }

// Cols is the number of values per row.
func (a *Activations) Cols() int { return a.cols }

// activationPool recycles the Activations that MatMul quantizes into.
var activationPool = sync.Pool{New: func() any { return new(Activations) }}

// ensureCorrections fills a.corr for Q8_0 activations if not yet done.
func (a *Activations) ensureCorrections() {
	if a.hasCorr || a.typ != Q8_0 {
		return
	}
	nb := a.n * a.cols / QK
	if cap(a.corr) < 8*nb {
		a.corr = make([]int32, 8*nb)
	}
	a.corr = a.corr[:8*nb]
	for b := range nb {
		q8Corrections(a.corr[8*b:8*b+8], a.data[b*34+2:b*34+2+QK])
	}
	a.hasCorr = true
}

// q8Corrections sets c[l] = −128·(q[4l]+…+q[4l+3]) for the eight lanes of
// one block's quants.
func q8Corrections(c []int32, q []byte) {
	for l := range c {
		c[l] = -128 * (int32(int8(q[4*l])) + int32(int8(q[4*l+1])) + int32(int8(q[4*l+2])) + int32(int8(q[4*l+3])))
	}
}

// quantizeQ8_0Blocks, where set (amd64), encodes len(scales) Q8_0 blocks
// of x into dst exactly as quantizeBlockQ8_0 does, also storing each
// block's scale as float32 and its corrections (see q8Corrections).
var quantizeQ8_0Blocks func(x []float32, dst []byte, scales []float32, corr []int32)

// q8Job quantizes activation rows with quantizeQ8_0Blocks in parallel.
type q8Job struct {
	a *Activations
	x []float32
}

func (j *q8Job) runRange(lo, hi int) {
	a, nbRow := j.a, j.a.cols/QK
	b0, b1 := lo*nbRow, hi*nbRow
	quantizeQ8_0Blocks(j.x[lo*a.cols:hi*a.cols], a.data[b0*34:b1*34], a.scales[b0:b1], a.corr[b0*8:b1*8])
}
