//go:build !amd64 || purego

package tensor

func swigluRange(gate, up []float32) { swigluRef(gate, up) }
