//go:build !unix

package tensor

import "errors"

// allocStrips returns n zeroed bytes for m's row-interleaved copy.
func allocStrips(m *Matrix, n int) []byte { return make([]byte, n) }

// MapFloat32s returns n zeroed float32s for a long-lived buffer of owner's
// (see the unix version); here it is ordinary memory, and free does nothing.
func MapFloat32s[T any](owner *T, n int) (buf []float32, free func()) {
	return make([]float32, n), func() {}
}

// mapCleanup maps nothing here: an Arena then leaves each copy to
// allocStrips.
func mapCleanup[T any](owner *T, n int) (b []byte, free func(), err error) {
	return nil, nil, errors.New("tensor: no anonymous mappings on this system")
}
