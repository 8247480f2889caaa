package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPUTime is the CPU time consumed by the calling OS thread, so that
// single-thread kernel benchmarks can be read on a busy machine.
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDotKernel runs one thread's row-dot kernels (the reference and
// each assembly variant) over a cache-resident 64×4864 matrix. Besides wall-clock MB/s
// it reports cpu-GB/s (weight bytes per second of this thread's CPU time)
// and best-GB/s (the fastest single pass), both readable on a busy machine.
func BenchmarkDotKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const rows, cols = 64, 4864
	for _, dt := range kernelTypes {
		m := randomBenchMatrix(r, dt, rows, cols)
		xf := gaussian(r, cols, 1)
		x := float32Bytes(xf)
		if at := activationType(dt); at != F32 {
			x, _ = Quantize(at, xf)
		}
		rb := RowBytes(dt, cols)
		impls := []kernelVariant{{"ref", map[DType]rowsFunc{dt: rowsFromDot(refDot[dt])}}}
		impls = append(impls, kernelVariants()...)
		for _, impl := range impls {
			rowsKernel := impl.rows[dt]
			if rowsKernel == nil {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", dt, impl.name), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.SetBytes(int64(len(m.Data)))
				out := make([]float32, rows)
				best := time.Duration(1 << 62)
				start := threadCPUTime()
				for b.Loop() {
					t0 := time.Now()
					rowsKernel(m.Data, rb, x, cols, out)
					best = min(best, time.Since(t0))
				}
				cpu := threadCPUTime() - start
				if cpu > 0 {
					b.ReportMetric(float64(b.N)*float64(len(m.Data))/cpu.Seconds()/1e9, "cpu-GB/s")
				}
				b.ReportMetric(float64(len(m.Data))/best.Seconds()/1e9, "best-GB/s")
				sink.Add(uint64(out[0]))
			})
		}
	}
}

// BenchmarkQuantizeActivation measures the per-call activation
// quantization that MatVec does before the dot products.
func BenchmarkQuantizeActivation(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	x := gaussian(r, 4864, 1)
	for _, at := range []DType{Q8_0, Q8_K} {
		dst := make([]byte, RowBytes(at, len(x)))
		b.Run(at.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			best := time.Duration(1 << 62)
			for b.Loop() {
				t0 := time.Now()
				quantizeInto(at, dst, x)
				best = min(best, time.Since(t0))
			}
			b.ReportMetric(float64(best.Nanoseconds()), "best-ns")
		})
	}
}

// BenchmarkQuantize measures weight quantization (the quantize command's
// cost) on 1 Mi Gaussian values.
func BenchmarkQuantize(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	x := gaussian(r, 1<<20, 1)
	for _, dt := range []DType{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K} {
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if _, err := Quantize(dt, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
