//go:build !amd64 || purego

package tensor

func maxFloat32(x []float32) float32 { return maxFloat32Ref(x) }

func argmax(x []float32) int { return argmaxRef(x) }

func expSub(x []float32, m float32) float64 { return expSubRef(x, m) }

func scaleFloat32(a float32, x []float32) {
	for i := range x {
		x[i] *= a
	}
}
