package tensor

import (
	"fmt"
	"sync"
)

// Batched products (prefill). For weight types with a tile kernel the work
// is split in two dimensions, into tiles of tileRows weight rows × tileTokens
// activation rows, shared out to the worker pool. Inside a tile each weight
// row is decoded once (to int8 quants in the form the kernel wants, plus
// float32 block scales) into a small buffer that stays in L1, and then
// meets every activation row of the tile, whose quants stay in L2; the
// decoding, scale conversion and nibble unpacking that the single-token
// kernels repeat for every token are so paid once per tile. On AVX-512
// VNNI the kernel holds a 2 weight rows × 4 activation rows register tile,
// so that every weight load serves four tokens and every activation load
// two rows. Each dot performs exactly the float arithmetic of the
// single-token kernel of its family, in the same order, so MatMul and
// MatVec agree bit for bit.
const (
	tileRows   = 32
	tileTokens = 128
)

// tileKernel multiplies decoded weight rows with quantized activation rows
// (Q8_0, or Q8_K for Q4_K).
type tileKernel struct {
	// decode converts one encoded row of nb blocks into q (decodedBytes
	// per block: first 64 per block, the 32 signed quants then their 32
	// magnitudes or offset form; then, for the packed kernels, the packed
	// form) and d (nb block scales).
	decode func(w []byte, nb int, q []byte, d []float32)
	// dots computes, for t < ntok, dst[t·dstStride] = Σ_b d[b]·dx·(quants
	// of block b · quants of block b of activation row t0+t of a), dx being
	// that activation block's scale.
	dots func(q []byte, d []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int)
	// offset reports that decode stores q XOR 0x80 (q+128 read unsigned)
	// rather than |q| as the second half of each block.
	offset bool
	// prepare, if set, adds to the activations what dots reads besides
	// their quants and scales.
	prepare func(a *Activations)
	// dots2, if set, is dots for two decoded rows at once: row 0's
	// results go to dst[t·dstStride], row 1's to dst[t·dstStride+1].
	dots2 func(q0, q1 []byte, d0, d1 []float32, nb int, a *Activations, t0, ntok int, dst []float32, dstStride int)
}

// minTileTokens is the fewest activation rows for which the tile kernel
// beats the row kernel: the K-quant rows are decoded in Go, which pays off
// only over more tokens.
func minTileTokens(t DType) int {
	if t.BlockSize() == QKK {
		return 32
	}
	return 2
}

// tileKernelSet is a family of optimised tile kernels (e.g. "avx2").
type tileKernelSet struct {
	name    string
	kernels map[DType]tileKernel
}

// refTileKernels are the pure-Go tile kernels; the assembly variants
// override them in activeTiles.
var refTileKernels = map[DType]tileKernel{
	Q4_0: {decodeRowQ4_0, dotsDecodedRef, false, nil, nil},
	Q5_0: {decodeRowQ5_0, dotsDecodedRef, false, nil, nil},
	Q8_0: {decodeRowQ8_0, dotsDecodedRef, false, nil, nil},
	Q4_K: {decodeRowQ4K, dotsQ4KDecodedRef, false, nil, nil},
	Q6_K: {decodeRowQ6K, dotsQ6KDecodedRef, false, nil, nil},
}

// activeTiles holds the tile kernels MatMul uses.
var activeTiles = func() map[DType]tileKernel {
	// A reference tile kernel is used only where MatVec uses the reference
	// row kernel too, so that the two always agree bit for bit.
	asmRows := map[DType]bool{}
	for _, v := range kernelVariants() {
		for t := range v.rows {
			asmRows[t] = true
		}
	}
	m := make(map[DType]tileKernel, len(refTileKernels))
	for t, k := range refTileKernels {
		if !asmRows[t] {
			m[t] = k
		}
	}
	for _, set := range tileKernelSets() {
		for t, k := range set.kernels {
			m[t] = k
		}
	}
	return m
}()

// decodedBytes is the size of a decoded row's buffer per 32-element block:
// 64 bytes of quants in two forms, and room for a third, packed form (a
// decoded Q4_K or Q6_K super-block, q4kDecoded or q6kDecoded bytes, fits
// in 8·decodedBytes).
const decodedBytes = 96

// decodeScratch is one thread's decoded weight rows (two, for dots2).
type decodeScratch struct {
	q, q2 []byte
	d, d2 []float32
	// strips holds rows rebuilt from strips (see Interleave).
	strips stripCache
}

var decodeScratches = sync.Pool{New: func() any { return new(decodeScratch) }}

// tileJob is one batched MatMulQ call over a weight type with a tile kernel.
type tileJob struct {
	w          *Matrix
	a          *Activations
	k          tileKernel
	dst        []float32
	rowTiles   int
	tokenTiles int
	split      splitter
}

var tileJobs = sync.Pool{New: func() any { return new(tileJob) }}

// runRange computes tiles lo…hi−1. Tiles are numbered token-tile major, so
// that a thread's consecutive tiles share their activations (kept in
// cache) while the weight rows stream past.
func (j *tileJob) runRange(lo, hi int) {
	w, a := j.w, j.a
	nb := w.Cols / w.Type.BlockSize()
	s := decodeScratches.Get().(*decodeScratch)
	// decodedBytes per 32 elements covers every decoded layout.
	need := decodedBytes * w.Cols / QK
	if cap(s.q) < need {
		s.q, s.d = make([]byte, need), make([]float32, w.Cols/QK)
		s.q2, s.d2 = make([]byte, need), make([]float32, w.Cols/QK)
	}
	q, d := s.q[:need], s.d[:w.Cols/QK]
	q2, d2 := s.q2[:need], s.d2[:w.Cols/QK]
	for tile := lo; tile < hi; tile++ {
		tt, rt := tile/j.rowTiles, tile%j.rowTiles
		t0, t1 := tt*tileTokens, min(a.n, (tt+1)*tileTokens)
		r0, r1 := rt*tileRows, min(w.Rows, (rt+1)*tileRows)
		r := r0
		if j.k.dots2 != nil {
			for ; r+2 <= r1; r += 2 {
				j.k.decode(s.strips.row(w, r), nb, q, d)
				j.k.decode(s.strips.row(w, r+1), nb, q2, d2)
				j.k.dots2(q, q2, d, d2, nb, a, t0, t1-t0, j.dst[t0*w.Rows+r:], w.Rows)
			}
		}
		for ; r < r1; r++ {
			j.k.decode(s.strips.row(w, r), nb, q, d)
			j.k.dots(q, d, nb, a, t0, t1-t0, j.dst[t0*w.Rows+r:], w.Rows)
		}
	}
	s.strips.w = nil // keep no matrix alive from the pool
	decodeScratches.Put(s)
}

// MatMulQ is MatMul on activations quantized in advance with
// QuantizeActivations (or Load) for w's type: dst receives a.Rows() rows
// of w.Rows values, dst[t·Rows + r] = Σ_c w[r,c]·a[t,c]. Its results equal
// MatMul's bit for bit. It panics if a's encoding or width does not match
// w, or dst is too short.
func MatMulQ(dst []float32, w *Matrix, a *Activations) {
	if at := activationType(w.Type); a.typ != at || a.cols != w.Cols {
		panic(fmt.Sprintf("tensor: MatMulQ: %d×%d %s needs %s activations of %d columns, got %s of %d",
			w.Rows, w.Cols, w.Type, at, w.Cols, a.typ, a.cols))
	}
	n := a.n
	if len(dst) < n*w.Rows {
		panic(fmt.Sprintf("tensor: MatMulQ: dst has %d elements, want ≥ %d", len(dst), n*w.Rows))
	}
	rowsKernel, ok := activeRows[w.Type]
	if !ok {
		panic(fmt.Sprintf("tensor: MatMulQ: unsupported weight type %s", w.Type))
	}
	rb := RowBytes(w.Type, w.Cols)
	if rb <= 0 || len(w.Data) < w.Rows*rb {
		panic(fmt.Sprintf("tensor: MatMulQ: malformed %d×%d %s matrix with %d data bytes", w.Rows, w.Cols, w.Type, len(w.Data)))
	}
	if k, ok := activeTiles[w.Type]; ok && n >= minTileTokens(w.Type) {
		if k.prepare != nil {
			k.prepare(a)
		}
		j := tileJobs.Get().(*tileJob)
		j.w, j.a, j.k, j.dst = w, a, k, dst
		j.rowTiles = (w.Rows + tileRows - 1) / tileRows
		j.tokenTiles = (n + tileTokens - 1) / tileTokens
		parallelFor(&j.split, j, j.rowTiles*j.tokenTiles, 1)
		j.w, j.a, j.k, j.dst = nil, nil, tileKernel{}, nil
		tileJobs.Put(j)
		return
	}
	matMulPerToken(dst, w, a, rowsKernel)
}

// matMulPerToken runs the single-token row kernel once per activation row
// (for weight types without a tile kernel), parallel over weight rows.
func matMulPerToken(dst []float32, w *Matrix, a *Activations, rowsKernel rowsFunc) {
	rb := RowBytes(w.Type, w.Cols)
	j := mulJobs.Get().(*mulJob)
	j.w, j.rows, j.rowBytes, j.n, j.dst = w, rowsKernel, rb, a.n, dst
	j.x, j.xStride = a.data, a.stride
	parallelFor(&j.split, j, w.Rows, minRowsPerChunk(rb, a.n))
	j.release()
}
