//go:build !amd64 || purego

package tensor

func kernelVariants() []kernelVariant { return nil }

func dotFloat32(a, b []float32) float32 { return dotFloat32Ref(a, b) }

func weightedSumAdd(dst, m []float32, stride int, w []float32, add bool) {
	weightedSumRef(dst, m, stride, w, add)
}

// streamRead reads every byte of b (for the bandwidth benchmark).
func streamRead(b []byte) uint64 { return streamReadGo(b) }

func tileKernelSets() []tileKernelSet { return nil }

func q8MatVecKernels() map[DType]q8MatVecFunc { return nil }

// stripsExpected: no strip formats without the assembly.
func stripsExpected(DType) bool { return false }

// prefetchNTA does nothing without the assembly.
func prefetchNTA([]byte) {}

func tileScores(dst []float32, dstStride int, keys []float32, tileStride, tiles, dim int, q []float32, qStride, heads int) {
	tileScoresRef(dst, dstStride, keys, tileStride, tiles, dim, q, qStride, heads)
}
