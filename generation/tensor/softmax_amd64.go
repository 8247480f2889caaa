//go:build amd64 && !purego

package tensor

import "unsafe"

//go:noescape
func argmaxF32AVX2(x *float32, n int) int

//go:noescape
func maxF32AVX2(x *float32, n int) float32

//go:noescape
func expSubAVX2(x *float32, n int, m float32) float32

//go:noescape
func scaleF32AVX2(x *float32, n int, a float32)

// argmax is Argmax after its checks (x[0] is a number): the AVX2 kernel
// finds the largest number among the first len(x)&^31 elements and the
// first index holding it, Go the rest.
func argmax(x []float32) int {
	n32 := len(x) &^ 31
	if !hasAVX2 || n32 == 0 {
		return argmaxRef(x)
	}
	i := argmaxF32AVX2(unsafe.SliceData(x), n32)
	for j := n32; j < len(x); j++ {
		if x[j] > x[i] {
			i = j
		}
	}
	return i
}

// maxFloat32 is maxFloat32Ref on AVX2 (len(x) > 0).
func maxFloat32(x []float32) float32 {
	n8 := len(x) &^ 7
	if !hasAVX2 || n8 == 0 {
		return maxFloat32Ref(x)
	}
	m := maxF32AVX2(unsafe.SliceData(x), n8)
	for _, v := range x[n8:] {
		m = max(m, v)
	}
	return m
}

// expSub is expSubRef on AVX2: the first len(x)&^7 elements eight lanes
// at a time (summed in float32 lanes), the rest by expf.
func expSub(x []float32, m float32) float64 {
	n8 := len(x) &^ 7
	if !hasAVX2 || n8 == 0 {
		return expSubRef(x, m)
	}
	sum := float64(expSubAVX2(unsafe.SliceData(x), n8, m))
	return sum + expSubRef(x[n8:], m)
}

// scaleFloat32 is x *= a, on AVX2 where present.
func scaleFloat32(a float32, x []float32) {
	n8 := len(x) &^ 7
	if hasAVX2 && n8 > 0 {
		scaleF32AVX2(unsafe.SliceData(x), n8, a)
		x = x[n8:]
	}
	for i := range x {
		x[i] *= a
	}
}
