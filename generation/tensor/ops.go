package tensor

import (
	"fmt"
	"math"
	"sync"
)

func mustSameLen(op string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("tensor: %s: length mismatch %d vs %d", op, a, b))
	}
}

// Dot returns Σ a[i]·b[i]. It panics if the lengths differ.
func Dot(a, b []float32) float32 {
	mustSameLen("Dot", len(a), len(b))
	return dotFloat32(a, b)
}

// checkRows panics unless a matrix of have elements holds rows ≥ 1 rows of
// cols elements, stride apart, for op.
func checkRows(op string, rows, cols, stride, have int) {
	if stride < cols || (rows-1)*stride+cols > have {
		panic(fmt.Sprintf("tensor: %s: %d rows of %d with stride %d need %d elements, have %d",
			op, rows, cols, stride, (rows-1)*stride+cols, have))
	}
}

// WeightedSum computes dst[j] = Σ_i w[i]·m[i·stride + j] for every j <
// len(dst): the weighted sum of len(w) rows stride elements apart (the
// softmax-weighted sum of a KV cache's value rows, say), summing over the
// rows in order. It panics if m is too short.
func WeightedSum(dst, m []float32, stride int, w []float32) {
	if len(w) == 0 {
		clear(dst)
		return
	}
	checkRows("WeightedSum", len(w), len(dst), stride, len(m))
	weightedSumAdd(dst, m, stride, w, false)
}

// WeightedSumAdd is WeightedSum adding to dst: dst[j] += Σ_i w[i]·m[i·stride
// + j], the rows summed in order onto dst[j]. Taken a block of rows at a
// time it gives the sum over all of them.
func WeightedSumAdd(dst, m []float32, stride int, w []float32) {
	if len(w) == 0 {
		return
	}
	checkRows("WeightedSumAdd", len(w), len(dst), stride, len(m))
	weightedSumAdd(dst, m, stride, w, true)
}

// weightedSumRef is the reference for weightedSum (add: onto dst).
func weightedSumRef(dst, m []float32, stride int, w []float32, add bool) {
	for j := range dst {
		var s float32
		if add {
			s = dst[j]
		}
		for i, wi := range w {
			s += wi * m[i*stride+j]
		}
		dst[j] = s
	}
}

// Argmax returns the index of the largest element of x, the first of a
// tie (greedy sampling over a vocabulary of logits). NaNs are never taken
// over a number, and an x[0] that is NaN is never replaced, as in the plain
// loop argmaxRef; it returns 0 for an empty x.
func Argmax(x []float32) int {
	if len(x) == 0 || x[0] != x[0] {
		return 0
	}
	return argmax(x)
}

// argmaxRef is the reference for argmax.
func argmaxRef(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// NormalizeL2 scales v to unit L2 length in place (summing squares in
// float64); a zero vector stays zero.
func NormalizeL2(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= inv
	}
}

// Axpy computes y += alpha·x. It panics if the lengths differ.
func Axpy(alpha float32, x, y []float32) {
	mustSameLen("Axpy", len(x), len(y))
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) { scaleFloat32(alpha, x) }

// Add computes dst = a + b element-wise; dst may alias a or b. It panics if
// the lengths differ.
func Add(dst, a, b []float32) {
	mustSameLen("Add", len(a), len(b))
	mustSameLen("Add", len(dst), len(a))
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// Mul computes dst = a ⊙ b element-wise; dst may alias a or b.
func Mul(dst, a, b []float32) {
	mustSameLen("Mul", len(a), len(b))
	mustSameLen("Mul", len(dst), len(a))
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

// RMSNorm computes dst = x / sqrt(mean(x²) + eps) ⊙ weight (weight may be
// nil for no gain). dst may alias x.
func RMSNorm(dst, x, weight []float32, eps float32) {
	mustSameLen("RMSNorm", len(dst), len(x))
	if weight != nil {
		mustSameLen("RMSNorm weight", len(weight), len(x))
	}
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	if weight == nil {
		for i, v := range x {
			dst[i] = v * inv
		}
		return
	}
	for i, v := range x {
		dst[i] = v * inv * weight[i]
	}
}

// LayerNorm computes dst = (x − mean) / sqrt(var + eps) ⊙ weight + bias
// (weight and bias may be nil). dst may alias x.
func LayerNorm(dst, x, weight, bias []float32, eps float32) {
	mustSameLen("LayerNorm", len(dst), len(x))
	if weight != nil {
		mustSameLen("LayerNorm weight", len(weight), len(x))
	}
	if bias != nil {
		mustSameLen("LayerNorm bias", len(bias), len(x))
	}
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var vs float64
	for _, v := range x {
		d := float64(v) - mean
		vs += d * d
	}
	inv := 1 / math.Sqrt(vs/float64(len(x))+float64(eps))
	for i, v := range x {
		y := float32((float64(v) - mean) * inv)
		if weight != nil {
			y *= weight[i]
		}
		if bias != nil {
			y += bias[i]
		}
		dst[i] = y
	}
}

// Softmax replaces x with exp(x − max) / Σ exp(x − max) in place. Entries of
// −Inf become 0 (all −Inf gives all 0); an empty slice is left alone.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := maxFloat32(x)
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	sum := expSub(x, m)
	scaleFloat32(float32(1/sum), x)
}

// maxFloat32Ref returns the largest element of x (len(x) > 0).
func maxFloat32Ref(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

// expSubRef replaces x[i] with e^(x[i]−m) (expf) and returns the sum.
func expSubRef(x []float32, m float32) float64 {
	var sum float64
	for i, v := range x {
		e := expf(v - m)
		x[i] = e
		sum += float64(e)
	}
	return sum
}

// SiLU replaces x with x·σ(x) in place, splitting long vectors across
// Threads() threads (the result does not depend on the split).
func SiLU(x []float32) {
	if len(x) < 2*siluChunk || Threads() <= 1 {
		siluRange(x)
		return
	}
	j := siluJobs.Get().(*siluJob)
	j.x = x
	parallelFor(&j.split, j, len(x), siluChunk)
	j.x = nil
	siluJobs.Put(j)
}

// siluChunk is the fewest elements worth handing to another thread (an
// exp costs ~20 ns, a hand-over a few µs).
const siluChunk = 1024

func siluRange(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + float32(math.Exp(float64(-v))))
	}
}

// SwiGLU computes gate[i] = SiLU(gate[i])·up[i], the gated activation of a
// SwiGLU feed-forward block, in place, splitting long vectors across
// Threads() threads. It uses a float32 exponential (expf), within 4 units
// in the last place of math.Exp. It panics if the lengths differ.
func SwiGLU(gate, up []float32) {
	mustSameLen("SwiGLU", len(gate), len(up))
	if len(gate) < 2*swigluChunk || Threads() <= 1 {
		swigluRange(gate, up)
		return
	}
	j := swigluJobs.Get().(*swigluJob)
	j.gate, j.up = gate, up
	parallelFor(&j.split, j, len(gate), swigluChunk)
	j.gate, j.up = nil, nil
	swigluJobs.Put(j)
}

// swigluChunk is the fewest elements worth handing to another thread: the
// AVX2 kernel does one decode step's 4,864 in a few µs, about what a
// hand-over costs, so only batched (prefill) calls are split.
const swigluChunk = 16384

// swigluRef is the reference for swigluRange: gate[i] = g/(1+e^−g)·up[i]
// with e^−g from expSiLU. Every float32 operation is rounded on its own
// (the explicit conversions forbid fused multiply-adds), as the AVX2
// kernel does.
func swigluRef(gate, up []float32) {
	up = up[:len(gate)]
	for i, g := range gate {
		gate[i] = g / (1 + expSiLU(-g)) * up[i]
	}
}

// expSiLU is e^t for SiLU with t clamped to [−87, 88], where 1+e^t is
// already 1 or x/(1+e^t) already 0 to float32 precision; the clamp keeps
// 2^n a normal number, so no special cases remain.
func expSiLU(t float32) float32 {
	p, n := expParts(min(max(t, -87), 88))
	return p * math.Float32frombits(uint32(n+127)<<23)
}

type swigluJob struct {
	gate, up []float32
	split    splitter
}

func (j *swigluJob) runRange(lo, hi int) { swigluRange(j.gate[lo:hi], j.up[lo:hi]) }

var swigluJobs = sync.Pool{New: func() any { return new(swigluJob) }}

// expf returns e^x in float32 arithmetic (expParts), within 4 ulp of the
// true value; below −87.3 it returns 0 (rather than a subnormal) and above
// 88.7 +Inf.
func expf(x float32) float32 {
	switch {
	case x > 88.72:
		return float32(math.Inf(1))
	case x < -87.33:
		return 0
	case x != x:
		return x
	}
	p, n := expParts(x)
	if n > 127 { // e^x just below the float32 maximum: scale in two steps
		return p * math.Float32frombits(uint32(n+126)<<23) * 2
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// expParts splits e^x as p·2^n: x = n·ln2 + r with |r| ≤ ln2/2 (a
// Cody–Waite split of ln2), p = e^r by its degree-6 Taylor polynomial
// (error below r⁷/7! ≈ 1.2e-7). Every float32 operation is rounded on its
// own (the explicit conversions forbid fused multiply-adds), the order the
// AVX2 kernels' EXP8 follows, so that they match it bit for bit.
func expParts(x float32) (p float32, n int32) {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125 // ln2 with its low 12 bits clear, so n·ln2hi is exact
		ln2lo = 1.42860682030941723212e-6
		round = 12582912 // 1.5·2²³: adding it rounds to an integer
	)
	nf := float32(x*log2e) + round
	nf = float32(nf - round)
	r := float32(x - float32(nf*ln2hi))
	r = float32(r - float32(nf*ln2lo))
	p = float32(r * (1.0 / 720))
	p = float32(r * float32(1.0/120+p))
	p = float32(r * float32(1.0/24+p))
	p = float32(r * float32(1.0/6+p))
	p = float32(r * float32(0.5+p))
	p = float32(r * float32(1+p))
	return 1 + p, int32(nf)
}

// siluJob is one parallel SiLU call, pooled so that calls do not allocate.
type siluJob struct {
	x     []float32
	split splitter
}

func (j *siluJob) runRange(lo, hi int) { siluRange(j.x[lo:hi]) }

var siluJobs = sync.Pool{New: func() any { return new(siluJob) }}

// GELU replaces x with the tanh approximation of GELU used by ggml and
// GPT-2: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func GELU(x []float32) {
	const c = 0.7978845608028654 // √(2/π)
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Tanh(c*(f+0.044715*f*f*f))))
	}
}

// GELUErf replaces x with the exact GELU, 0.5·x·(1 + erf(x/√2)), as BERT's
// "gelu" activation uses.
func GELUErf(x []float32) {
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
	}
}

// TileWidth is the number of keys a key tile holds (see TileScores).
const TileWidth = 8

// TileScores computes the dot products of heads queries with tiles key
// tiles: query h is q[h·qStride : h·qStride+dim], tile t holds TileWidth
// keys of dim elements with element d of key j at keys[t·tileStride +
// d·TileWidth + j], and dst[h·dstStride + t·TileWidth + j] receives query
// h · key j of tile t. Stored so (a KV cache's keys transposed a tile at a
// time), one vector load gives one element of eight keys, and a query's
// dot with eight keys is dim multiply-adds with no sum across a register,
// where a dot with one key row at a time ends in a horizontal sum
// that costs as much as the row's 64 multiply-adds. It panics if a slice
// is too short.
func TileScores(dst []float32, dstStride int, keys []float32, tileStride, tiles, dim int, q []float32, qStride, heads int) {
	if heads <= 0 || tiles <= 0 || dim <= 0 {
		return
	}
	if tileStride < dim*TileWidth || (tiles-1)*tileStride+dim*TileWidth > len(keys) ||
		qStride < dim || (heads-1)*qStride+dim > len(q) ||
		dstStride < tiles*TileWidth || (heads-1)*dstStride+tiles*TileWidth > len(dst) {
		panic(fmt.Sprintf("tensor: TileScores: %d heads × %d tiles of %d (strides q %d, tiles %d, dst %d) do not fit q %d, keys %d, dst %d",
			heads, tiles, dim, qStride, tileStride, dstStride, len(q), len(keys), len(dst)))
	}
	tileScores(dst, dstStride, keys, tileStride, tiles, dim, q, qStride, heads)
}

// tileScoresRef is the reference for tileScores: for each lane, a float32
// sum over d in order, each step one fused multiply-add as the assembly's.
func tileScoresRef(dst []float32, dstStride int, keys []float32, tileStride, tiles, dim int, q []float32, qStride, heads int) {
	for h := range heads {
		qh := q[h*qStride : h*qStride+dim]
		for t := range tiles {
			kt := keys[t*tileStride : t*tileStride+dim*TileWidth]
			for j := range TileWidth {
				var s float32
				for d, x := range qh {
					s = fma32(x, kt[d*TileWidth+j], s)
				}
				dst[h*dstStride+t*TileWidth+j] = s
			}
		}
	}
}

// fma32 is x·y + z rounded once to float32. A float32 product is exact in
// float64 and so is its sum with a float32 within the float64 exponent
// range, unless it needs more than 53 bits, which math.FMA then rounds
// once before float32 does again; the tests allow for that last-bit
// difference.
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}
