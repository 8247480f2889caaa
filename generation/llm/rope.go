package llm

import "math"

// RopeStyle says which elements of a head vector RoPE rotates together.
type RopeStyle int

const (
	// RopeNone applies no rotary embedding (BERT uses absolute positions).
	RopeNone RopeStyle = iota
	// RopeNormal rotates adjacent pairs (2i, 2i+1). llama.cpp uses it for
	// LLAMA (whose Q/K weights its converter permutes) and ChatGLM.
	RopeNormal
	// RopeNeox rotates pairs (i, i+dims/2), the Hugging Face rotate_half
	// layout. llama.cpp uses it for Qwen2.
	RopeNeox
)

// String names the style as llama.cpp does.
func (s RopeStyle) String() string {
	switch s {
	case RopeNormal:
		return "normal"
	case RopeNeox:
		return "neox"
	default:
		return "none"
	}
}

// rope applies rotary position embeddings to the first dims elements of
// every head of a vector.
type rope struct {
	style   RopeStyle
	dims    int       // rotated elements per head (even, ≤ head dim)
	headDim int       // elements per head
	invFreq []float64 // base^(-2i/dims), i < dims/2
}

func newRope(style RopeStyle, dims, headDim int, base float64) *rope {
	if dims <= 0 || dims > headDim {
		dims = headDim
	}
	dims &^= 1
	r := &rope{style: style, dims: dims, headDim: headDim, invFreq: make([]float64, dims/2)}
	for i := range r.invFreq {
		r.invFreq[i] = math.Pow(base, -2*float64(i)/float64(dims))
	}
	return r
}

// table returns cos and sin of every pair's angle at position pos.
func (r *rope) table(pos int, cos, sin []float32) {
	for i, f := range r.invFreq {
		s, c := math.Sincos(float64(pos) * f)
		cos[i], sin[i] = float32(c), float32(s)
	}
}

// apply rotates every head of vec (nHeads*headDim values) for position pos,
// using cos/sin scratch slices of length dims/2.
func (r *rope) apply(vec []float32, nHeads int, cos, sin []float32) {
	if r == nil || r.style == RopeNone {
		return
	}
	half := r.dims / 2
	for h := 0; h < nHeads; h++ {
		x := vec[h*r.headDim : h*r.headDim+r.dims]
		switch r.style {
		case RopeNormal:
			for i := 0; i < half; i++ {
				a, b := x[2*i], x[2*i+1]
				x[2*i] = a*cos[i] - b*sin[i]
				x[2*i+1] = a*sin[i] + b*cos[i]
			}
		case RopeNeox:
			for i := 0; i < half; i++ {
				a, b := x[i], x[i+half]
				x[i] = a*cos[i] - b*sin[i]
				x[i+half] = a*sin[i] + b*cos[i]
			}
		}
	}
}
