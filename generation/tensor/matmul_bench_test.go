package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// BenchmarkMatMul measures batched products on Qwen2.5-0.5B shapes for
// n = 1, 8, 64 and 512 activation rows. Besides wall-clock GFLOP/s (2 flops
// per weight·activation product) it reports GFLOP/cpu-s (per second of
// process CPU time, meaningful on a busy machine) and speedup-cpu: the CPU
// time of the old path (the single-token kernel once per token, which is
// what MatMul did before the tile kernels) divided by MatMul's.
// The 151936×896 output layer at n = 512 is ~140 GFLOP per call: select
// sub-benchmarks with -bench and use -benchtime 1x for it.
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, dt := range []DType{Q4_0, Q8_0, Q5_0, Q4_K, Q6_K} {
		for _, s := range benchShapes {
			if s.cols%dt.BlockSize() != 0 {
				continue // Q4_K needs cols % 256 == 0; 896 is not
			}
			m := randomBenchMatrix(r, dt, s.rows, s.cols)
			for _, n := range []int{1, 8, 64, 512} {
				b.Run(fmt.Sprintf("%s/%dx%d/n=%d", dt, s.rows, s.cols, n), func(b *testing.B) {
					x := gaussian(r, n*s.cols, 1)
					dst := make([]float32, n*s.rows)
					flops := 2 * float64(s.rows) * float64(s.cols) * float64(n)
					MatMul(dst, m, x, n) // warm the pools
					b.ResetTimer()
					start, t0 := processCPUTime(), time.Now()
					for b.Loop() {
						MatMul(dst, m, x, n)
					}
					cpu, wall := processCPUTime()-start, time.Since(t0)
					b.ReportMetric(flops*float64(b.N)/wall.Seconds()/1e9, "GFLOP/s")
					b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
					b.StopTimer()
					// The old path, for the speedup: quantize, then the row
					// kernel per token.
					reps := min(b.N, 3)
					a := new(Activations)
					oldStart := processCPUTime()
					for range reps {
						a.Load(dt, x, n)
						matMulPerToken(dst, m, a, activeRows[dt])
					}
					oldCPU := (processCPUTime() - oldStart) / time.Duration(reps)
					b.ReportMetric(oldCPU.Seconds()/(cpu.Seconds()/float64(b.N)), "speedup-cpu")
				})
			}
		}
	}
}

// BenchmarkTileKernel compares, on one locked thread and in this thread's
// CPU time (so that other load on the machine matters little), the tile
// kernel with the single-token row kernel for one 32-row × 64-token tile of
// a 4864-column matrix (activations quantized in advance for both). The
// two alternate within each iteration; reported are GFLOP per CPU-second
// of each and their ratio.
func BenchmarkTileKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	const rows, cols, n = 32, 4864, 64
	for _, dt := range []DType{Q4_0, Q8_0, Q5_0, Q4_K, Q6_K} {
		k, ok := activeTiles[dt]
		if !ok {
			continue
		}
		m := randomBenchMatrix(r, dt, rows, cols)
		a := QuantizeActivations(dt, gaussian(r, n*cols, 1), n)
		rb, nb := RowBytes(dt, cols), cols/dt.BlockSize()
		q, d := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
		q2, d2 := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
		dst := make([]float32, n*rows)
		rowsKernel := activeRows[dt]
		b.Run(dt.String(), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var tileCPU, rowCPU time.Duration
			for b.Loop() {
				t0 := threadCPUTime()
				for rr := 0; rr < rows; rr++ {
					k.decode(m.Data[rr*rb:(rr+1)*rb], nb, q, d)
					if k.dots2 != nil {
						rr++
						k.decode(m.Data[rr*rb:(rr+1)*rb], nb, q2, d2)
						k.dots2(q, q2, d, d2, nb, a, 0, n, dst[rr-1:], rows)
						continue
					}
					k.dots(q, d, nb, a, 0, n, dst[rr:], rows)
				}
				t1 := threadCPUTime()
				for t := range n {
					rowsKernel(m.Data, rb, a.data[t*a.stride:(t+1)*a.stride], cols, dst[t*rows:(t+1)*rows])
				}
				tileCPU += t1 - t0
				rowCPU += threadCPUTime() - t1
			}
			flops := 2 * float64(rows*cols*n) * float64(b.N)
			b.ReportMetric(flops/tileCPU.Seconds()/1e9, "tile-GFLOP/cpu-s")
			b.ReportMetric(flops/rowCPU.Seconds()/1e9, "row-GFLOP/cpu-s")
			b.ReportMetric(rowCPU.Seconds()/tileCPU.Seconds(), "speedup")
		})
	}
}

// BenchmarkTileKernelSets runs every tile kernel family this CPU has (and
// the pure-Go reference) on one locked thread over a 32-row × 64-token
// tile of a 4864-column matrix, reporting GFLOP per CPU-second.
func BenchmarkTileKernelSets(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	const rows, cols, n = 32, 4864, 64
	for _, set := range testedTileSets() {
		for _, dt := range []DType{Q4_0, Q8_0, Q4_K, Q6_K} {
			k, ok := set.kernels[dt]
			if !ok {
				continue
			}
			m := randomBenchMatrix(r, dt, rows, cols)
			a := QuantizeActivations(dt, gaussian(r, n*cols, 1), n)
			if k.prepare != nil {
				k.prepare(a)
			}
			rb, nb := RowBytes(dt, cols), cols/dt.BlockSize()
			q, d := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
			q2, d2 := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
			dst := make([]float32, n*rows)
			b.Run(set.name+"/"+dt.String(), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				start := threadCPUTime()
				for b.Loop() {
					for rr := 0; rr < rows; rr++ {
						k.decode(m.Data[rr*rb:(rr+1)*rb], nb, q, d)
						if k.dots2 != nil {
							rr++
							k.decode(m.Data[rr*rb:(rr+1)*rb], nb, q2, d2)
							k.dots2(q, q2, d, d2, nb, a, 0, n, dst[rr-1:], rows)
							continue
						}
						k.dots(q, d, nb, a, 0, n, dst[rr:], rows)
					}
				}
				cpu := threadCPUTime() - start
				b.ReportMetric(2*float64(rows*cols*n)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			})
		}
	}
}
