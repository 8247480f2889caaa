package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Qwen2.5-0.5B shapes (rows×cols): attention/FFN projections and the
// output layer.
var benchShapes = []struct{ rows, cols int }{
	{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896},
}

func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, dt := range []DType{Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, Q5_0, Q5_1, Q4_1, F16, BF16, F32} {
		for _, s := range benchShapes {
			if s.cols%dt.BlockSize() != 0 {
				continue // e.g. Q4_K needs cols % 256 == 0; 896 is not
			}
			if s.rows*s.cols > 150_000_000 && (dt == F32 || dt == F16 || dt == BF16) {
				continue // keep memory modest for the float types
			}
			b.Run(fmt.Sprintf("%s/%dx%d", dt, s.rows, s.cols), func(b *testing.B) {
				// Random bytes are cheaper to build than quantized data;
				// fix the scales so the values stay finite.
				m := randomBenchMatrix(r, dt, s.rows, s.cols)
				x := gaussian(r, s.cols, 1)
				dst := make([]float32, s.rows)
				b.SetBytes(int64(len(m.Data)))
				b.ResetTimer()
				start := processCPUTime()
				for b.Loop() {
					MatVec(dst, m, x)
				}
				reportPerCPU(b, start, len(m.Data))
			})
		}
	}
}

// processCPUTime is the CPU time used by the whole process so far.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerCPU adds GB/cpu-s: weight bytes per second of process CPU time.
// On an idle machine wall-clock GB/s approaches Threads() times this; on a
// busy one it still shows what each thread achieves while it runs.
func reportPerCPU(b *testing.B, start time.Duration, bytesPerOp int) {
	if cpu := processCPUTime() - start; cpu > 0 {
		b.ReportMetric(float64(b.N)*float64(bytesPerOp)/cpu.Seconds()/1e9, "GB/cpu-s")
	}
}

// randomBenchMatrix fills a matrix with random quants and sane scales.
func randomBenchMatrix(r *rand.Rand, dt DType, rows, cols int) *Matrix {
	data := make([]byte, rows*RowBytes(dt, cols))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for k := range 8 {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	bb := dt.BlockBytes()
	for o := 0; o+bb <= len(data); o += bb {
		switch dt {
		case Q4_0, Q5_0, Q8_0:
			putF16(data[o:], 0.01)
		case Q4_K, Q5_K, Q4_1, Q5_1:
			putF16(data[o:], 0.01)
			putF16(data[o+2:], 0.01)
		case Q6_K:
			putF16(data[o+208:], 0.01)
		case F16:
			putF16(data[o:], float32(r.NormFloat64()))
		case BF16:
			putF16(data[o:], 0) // overwritten below
			v := F32ToBF16(float32(r.NormFloat64()))
			data[o], data[o+1] = byte(v), byte(v>>8)
		case F32:
			copy(data[o:], float32Bytes([]float32{float32(r.NormFloat64())}))
		}
	}
	m, err := NewMatrix(dt, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

// BenchmarkMemoryBandwidth streams a 1 GiB buffer (larger than any cache)
// with the fastest read loop available: on one thread (also reporting
// cpu-GB/s, bytes per second of that thread's CPU time, which stays
// meaningful on a busy machine) and split over Threads() goroutines.
func BenchmarkMemoryBandwidth(b *testing.B) {
	const size = 1 << 30
	buf := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		buf[i] = byte(i >> 12)
	}
	b.Run("threads1", func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.SetBytes(size)
		start := threadCPUTime()
		for b.Loop() {
			sink.Add(streamRead(buf))
		}
		if cpu := threadCPUTime() - start; cpu > 0 {
			b.ReportMetric(float64(b.N)*size/cpu.Seconds()/1e9, "cpu-GB/s")
		}
	})
	b.Run(fmt.Sprintf("threads%d", Threads()), func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			ReadBandwidth([][]byte{buf}, 1)
		}
	})
}
