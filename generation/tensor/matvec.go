package tensor

import (
	"fmt"
	"math"
	"sync"
)

// mulJob is one batched row-kernel product (matMulPerToken), pooled so
// that steady-state calls do not allocate.
type mulJob struct {
	w        *Matrix
	rows     rowsFunc
	rowBytes int
	x        []byte // n activation rows, each xStride bytes
	xStride  int
	n        int
	dst      []float32
	split    splitter
}

var mulJobs = sync.Pool{New: func() any { return new(mulJob) }}

func (j *mulJob) runRange(lo, hi int) {
	w, rb, cols, rows := j.w.Data, j.rowBytes, j.w.Cols, j.w.Rows
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
	checkWeights("MatMul", w)
	if n > 1 {
		// Batched: quantize the activations once, then the tiled kernels.
		a := activationPool.Get().(*Activations)
		a.Load(w.Type, x, n)
		MatMulQ(dst, w, a)
		activationPool.Put(a)
		return
	}
	one := [1]decodeItem{{w, dst}}
	matVecs(one[:], x, readAhead{})
}

// checkWeights panics unless w has a kernel and holds all its rows: the
// assembly kernels trust these, and a Matrix built without NewMatrix must
// not make them read out of bounds.
func checkWeights(op string, w *Matrix) {
	if _, ok := activeRows[w.Type]; !ok {
		panic(fmt.Sprintf("tensor: %s: unsupported weight type %s", op, w.Type))
	}
	if rb := RowBytes(w.Type, w.Cols); rb <= 0 || len(w.Data) < w.Rows*rb {
		panic(fmt.Sprintf("tensor: %s: malformed %d×%d %s matrix with %d data bytes", op, w.Rows, w.Cols, w.Type, len(w.Data)))
	}
}

// release drops j's references to the call's data and returns it to the
// pool.
func (j *mulJob) release() {
	j.w, j.rows, j.x, j.dst = nil, nil, nil, nil
	mulJobs.Put(j)
}

// MatVecs computes dsts[i] = ws[i]·x for matrices that read the same input
// (q, k and v; gate and up). x is encoded once for each activation format
// the matrices need, and the rows of all of them are split across threads
// as one job, which saves a hand-over and a ramp-up of the memory stream
// per matrix; the matrices may differ in type (a Q4_K_M file mixes Q4_K or
// Q5_0 with Q6_K). Each result equals MatVec's bit for bit. It panics as
// MatVec does, or if len(dsts) != len(ws).
func MatVecs(dsts [][]float32, ws []*Matrix, x []float32) {
	MatVecsThen(dsts, ws, x)
}

// MatVecsThen is MatVecs, after which the kernels read ahead next, the
// matrices of the caller's next product (up to four; none, or more, read
// nothing): a helper starts as soon as it is done with this call, reading
// the start of each thread's share of next into its caches while the
// caller does other work (see readahead.go), until the caller's next
// parallel kernel call or CancelPrefetch. It is a hint: results never
// depend on it. next must stay valid until CancelPrefetch returns.
func MatVecsThen(dsts [][]float32, ws []*Matrix, x []float32, next ...*Matrix) {
	if len(dsts) != len(ws) {
		panic(fmt.Sprintf("tensor: MatVecs: %d outputs for %d matrices", len(dsts), len(ws)))
	}
	var small [4]decodeItem
	items := small[:0]
	for i, w := range ws {
		if len(x) != w.Cols {
			panic(fmt.Sprintf("tensor: MatVecs: x has %d elements, matrix %d has %d columns", len(x), i, w.Cols))
		}
		if len(dsts[i]) < w.Rows {
			panic(fmt.Sprintf("tensor: MatVecs: output %d has %d elements for %d rows", i, len(dsts[i]), w.Rows))
		}
		checkWeights("MatVecs", w)
		items = append(items, decodeItem{w, dsts[i]})
	}
	var then readAhead
	if len(next) <= maxAhead && Threads() > 1 {
		then.n = copy(then.ws[:], next)
	}
	matVecs(items, x, then)
}

// q8MatVecFunc is a decode kernel: dst[i] = dot(row i, x) for len(dst)
// rows of cols values, rowBytes apart, against one row x of Q8_0
// activations with its side data (see decodeSide). It must equal the
// active row kernel of its weight type bit for bit.
type q8MatVecFunc func(w []byte, rowBytes int, x []byte, side []int32, cols int, dst []float32)

// activeQ8MatVec holds the decode kernels MatVec uses in place of the row
// kernels, by weight type.
var activeQ8MatVec = q8MatVecKernels()

// decodeSide prepares, once per MatVec, what the decode kernels need from
// the activations besides their quants: for each group of four Q8_0 blocks
// (whole groups only), 16 words: −8 times the sum of each block's first 16
// quants (blocks 0–3), the same for the last 16 quants (blocks 0–3), and
// the four block scales twice, as float32 bits. scales and corr are as
// quantizeQ8_0Blocks leaves them (corr: −128 times the sums of each four
// quants), so −8 times a half block's sum is its four corrections' sum / 16.
func decodeSide(side []int32, scales []float32, corr []int32) {
	for g := 0; g+4 <= len(scales); g += 4 {
		s := side[4*g : 4*g+16]
		for j := range 4 {
			c := corr[8*(g+j) : 8*(g+j)+8]
			s[j] = (c[0] + c[1] + c[2] + c[3]) / 16
			s[4+j] = (c[4] + c[5] + c[6] + c[7]) / 16
			bits := int32(math.Float32bits(scales[g+j]))
			s[8+j], s[12+j] = bits, bits
		}
	}
}

// q8MatVecRows adapts a decode kernel to a rowsFunc, deriving the side
// data from x (for the kernel tables and their tests).
func q8MatVecRows(k q8MatVecFunc) rowsFunc {
	return func(w []byte, rowBytes int, x []byte, n int, dst []float32) {
		k(w, rowBytes, x, sideOf(x, n), n, dst)
	}
}

// sideOf derives the decode kernels' side data (see decodeSide) from n
// Q8_0 activations x, allocating it (for tests and the kernel tables; the
// decode path builds it in place while it quantizes).
func sideOf(x []byte, n int) []int32 {
	nb := n / QK
	scales, corr, side := make([]float32, nb), make([]int32, 8*nb), make([]int32, 4*nb)
	for b := range nb {
		scales[b] = f16At(x[b*34:])
		q8Corrections(corr[8*b:8*b+8], x[b*34+2:b*34+34])
	}
	decodeSide(side, scales, corr)
	return side
}
