//go:build !unix

package tensor

// allocStrips returns n zeroed bytes for m's row-interleaved copy.
func allocStrips(m *Matrix, n int) []byte { return make([]byte, n) }
