package tensor

import (
	"fmt"
	"sync"
)

// mulJob is one MatVec/MatMul call, pooled so that steady-state calls do
// not allocate.
type mulJob struct {
	w        *Matrix
	rows     rowsFunc
	rowBytes int
	x        []byte // n activation rows, each xStride bytes
	xStride  int
	n        int
	dst      []float32
	scratch  []byte
	quant    quantizeJob
	split    splitter
}

var mulJobs = sync.Pool{New: func() any { return new(mulJob) }}

func (j *mulJob) runRange(lo, hi int) {
	w, rb, cols, rows := j.w.Data, j.rowBytes, j.w.Cols, j.w.Rows
	if j.n == 1 {
		j.rows(w[lo*rb:hi*rb], rb, j.x, cols, j.dst[lo:hi])
		return
	}
	// Batched: tile rows so a tile of weight rows stays in cache while every
	// activation row passes over it.
	const tile = 16
	for r0 := lo; r0 < hi; r0 += tile {
		r1 := min(hi, r0+tile)
		for t := range j.n {
			xt := j.x[t*j.xStride : (t+1)*j.xStride]
			j.rows(w[r0*rb:r1*rb], rb, xt, cols, j.dst[t*rows+r0:t*rows+r1])
		}
	}
}

// quantizeJob converts n activation rows to the weight's activation type in
// parallel.
type quantizeJob struct {
	t       DType
	src     []float32
	cols    int
	dst     []byte
	dstRows int
}

func (q *quantizeJob) runRange(lo, hi int) {
	for i := lo; i < hi; i++ {
		quantizeInto(q.t, q.dst[i*q.dstRows:(i+1)*q.dstRows], q.src[i*q.cols:(i+1)*q.cols])
	}
}

// minRowsPerChunk keeps chunks at ~32 KiB of weight·token work or more, so
// that tiny products stay on one thread, where handing out work would cost
// more than it saves.
func minRowsPerChunk(rowBytes, n int) int {
	return max(1, (32<<10)/max(1, rowBytes*n))
}

// MatVec computes dst[r] = Σ_c w[r,c]·x[c] for every row r of w, in parallel
// over rows. Quantized weights meet x quantized to 8 bits (Q8_0 for Q4_0,
// Q5_0 and Q8_0; Q8_K for the K-quants) with integer dot products, as
// llama.cpp does. dst must not overlap x. It panics if len(x) != w.Cols or
// len(dst) < w.Rows.
func MatVec(dst []float32, w *Matrix, x []float32) {
	if len(x) != w.Cols {
		panic(fmt.Sprintf("tensor: MatVec: x has %d elements, matrix has %d columns", len(x), w.Cols))
	}
	MatMul(dst, w, x, 1)
}

// MatMul computes n products at once (batched prefill): x holds n rows of
// w.Cols values, row-major, and dst receives n rows of w.Rows values,
// dst[t·Rows + r] = Σ_c w[r,c]·x[t·Cols + c]. dst must not overlap x. It
// panics on mismatched lengths or a malformed matrix.
func MatMul(dst []float32, w *Matrix, x []float32, n int) {
	if n < 1 || len(x) != n*w.Cols || len(dst) < n*w.Rows {
		panic(fmt.Sprintf("tensor: MatMul: %d×%d %s with n=%d: x has %d elements (want %d), dst %d (want ≥ %d)",
			w.Rows, w.Cols, w.Type, n, len(x), n*w.Cols, len(dst), n*w.Rows))
	}
	rowsKernel, ok := activeRows[w.Type]
	if !ok {
		panic(fmt.Sprintf("tensor: MatMul: unsupported weight type %s", w.Type))
	}
	// The assembly kernels trust these; a Matrix built without NewMatrix
	// must not make them read out of bounds.
	if rb := RowBytes(w.Type, w.Cols); rb <= 0 || len(w.Data) < w.Rows*rb {
		panic(fmt.Sprintf("tensor: MatMul: malformed %d×%d %s matrix with %d data bytes", w.Rows, w.Cols, w.Type, len(w.Data)))
	}
	if n > 1 {
		// Batched: quantize the activations once, then the tiled kernels.
		a := activationPool.Get().(*Activations)
		a.Load(w.Type, x, n)
		MatMulQ(dst, w, a)
		activationPool.Put(a)
		return
	}
	j := mulJobs.Get().(*mulJob)
	j.w, j.rows, j.rowBytes, j.n, j.dst = w, rowsKernel, RowBytes(w.Type, w.Cols), n, dst
	at := activationType(w.Type)
	if at == F32 {
		j.x, j.xStride = float32Bytes(x), 4*w.Cols
	} else {
		j.xStride = RowBytes(at, w.Cols)
		if need := n * j.xStride; cap(j.scratch) < need {
			j.scratch = make([]byte, need)
		}
		j.x = j.scratch[:n*j.xStride]
		j.quant = quantizeJob{t: at, src: x, cols: w.Cols, dst: j.x, dstRows: j.xStride}
		parallelFor(&j.split, &j.quant, n, 4)
		j.quant = quantizeJob{}
	}
	parallelFor(&j.split, j, w.Rows, minRowsPerChunk(j.rowBytes, n))
	j.w, j.rows, j.x, j.dst = nil, nil, nil, nil
	mulJobs.Put(j)
}
