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

// Axpy computes y += alpha·x. It panics if the lengths differ.
func Axpy(alpha float32, x, y []float32) {
	mustSameLen("Axpy", len(x), len(y))
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

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
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	if math.IsInf(float64(m), -1) {
		clear(x)
		return
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
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
