package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// TestDecodeKernelsEqualRowKernels checks that MatVec through a decode
// kernel (activeQ8MatVec) returns exactly what the row kernel of the same
// weight type returns, for row counts around the kernels' four-row passes
// and block counts with and without a partial group of four.
func TestDecodeKernelsEqualRowKernels(t *testing.T) {
	if len(activeQ8MatVec) == 0 {
		t.Logf("no decode kernels on this CPU (%s); MatVec uses the row kernels", KernelName())
	}
	r := rand.New(rand.NewPCG(41, 42))
	defer SetThreads(0)
	for dt := range activeQ8MatVec {
		for _, cols := range []int{32, 96, 128, 896, 4864} {
			for _, rows := range []int{1, 3, 4, 5, 8, 13, 64} {
				m := randomMatrix(t, r, dt, rows, cols)
				xf := gaussian(r, cols, 1)
				xq, err := Quantize(Q8_0, xf)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]float32, rows)
				activeRows[dt](m.Data, RowBytes(dt, cols), xq, cols, want)
				direct := make([]float32, rows)
				q8MatVecRows(activeQ8MatVec[dt])(m.Data, RowBytes(dt, cols), xq, cols, direct)
				for _, th := range []int{1, 2} {
					SetThreads(th)
					got := make([]float32, rows)
					MatVec(got, m, xf)
					for i := range got {
						if got[i] != want[i] || direct[i] != want[i] {
							t.Fatalf("%s %d×%d threads %d row %d: MatVec %v, decode kernel %v, row kernel %v",
								dt, rows, cols, th, i, got[i], direct[i], want[i])
						}
					}
				}
			}
		}
	}
}

// BenchmarkDecodeKernel times one thread of the Q4_0 and Q8_0 decode
// kernels ("decode") and of the row kernels they replace ("rows"), with the
// activations quantized beforehand, on a cache-resident 64×4864 matrix and
// on a 256 MiB one that streams from memory. Besides MB/s it reports
// cpu-GB/s, weight bytes per second of the thread's CPU time, which stays
// readable on a busy machine.
func BenchmarkDecodeKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	const cols = 4864
	xf := gaussian(r, cols, 1)
	xq := make([]byte, RowBytes(Q8_0, cols))
	quantizeInto(Q8_0, xq, xf)
	side := sideOf(xq, cols)
	for _, dt := range []DType{Q4_0, Q5_0, Q8_0} {
		rb := RowBytes(dt, cols)
		for _, size := range []struct {
			name string
			rows int
		}{{"cache", 64}, {"dram", (256 << 20) / rb}} {
			m := randomBenchMatrix(r, dt, size.rows, cols)
			out := make([]float32, size.rows)
			for _, path := range []string{"decode", "rows"} {
				k := activeQ8MatVec[dt]
				if path == "decode" && k == nil {
					continue
				}
				b.Run(dt.String()+"/"+size.name+"/"+path, func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					b.SetBytes(int64(len(m.Data)))
					start := threadCPUTime()
					for b.Loop() {
						if path == "decode" {
							k(m.Data, rb, xq, side, cols, out)
						} else {
							activeRows[dt](m.Data, rb, xq, cols, out)
						}
					}
					if cpu := threadCPUTime() - start; cpu > 0 {
						b.ReportMetric(float64(b.N)*float64(len(m.Data))/cpu.Seconds()/1e9, "cpu-GB/s")
					}
					sink.Add(uint64(out[0]))
				})
			}
		}
	}
}

// BenchmarkDecodeStep runs the MatVec calls of one decode step of a
// Qwen2.5-0.5B-shaped model (24 layers of q, k, v, o, gate, up and down,
// then the 151936-row output) with Q4_0 weights, on Threads() threads,
// reporting weight GB/s (mean, and best-GB/s for the fastest step, which
// is readable on a busy machine): the figure to hold against BenchmarkMemoryBandwidth.
func BenchmarkDecodeStep(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 8))
	const hidden, kv, ffn, vocab, layers = 896, 128, 4864, 151936, 24
	shapes := [][2]int{{hidden, hidden}, {kv, hidden}, {kv, hidden}, {hidden, hidden}, {ffn, hidden}, {ffn, hidden}, {hidden, ffn}}
	type call struct {
		m   *Matrix
		x   []float32
		dst []float32
	}
	var calls []call
	var bytes int64
	add := func(rows, cols int) {
		m := randomBenchMatrix(r, Q4_0, rows, cols)
		calls = append(calls, call{m, gaussian(r, cols, 1), make([]float32, rows)})
		bytes += int64(len(m.Data))
	}
	for range layers {
		for _, s := range shapes {
			add(s[0], s[1])
		}
	}
	add(vocab, hidden)
	for _, th := range []int{1, Threads()} {
		b.Run(fmt.Sprintf("threads%d", th), func(b *testing.B) {
			SetThreads(th)
			defer SetThreads(0)
			b.SetBytes(bytes)
			best := time.Duration(1 << 62)
			for b.Loop() {
				t0 := time.Now()
				for _, c := range calls {
					MatVec(c.dst, c.m, c.x)
				}
				best = min(best, time.Since(t0))
			}
			b.ReportMetric(float64(bytes)/best.Seconds()/1e9, "best-GB/s")
		})
	}
}

// TestDecodePartWeights checks that decodePart.weights, which the
// splitter's lead prefetches, names the bytes the part's units are read
// from: strips for strip units, rows after them.
func TestDecodePartWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, interleave := range []bool{false, true} {
		m := randomMatrix(t, r, Q8_0, 21, 128)
		if interleave && !m.Interleave(nil) {
			if stripsExpected(Q8_0) {
				t.Fatal("Interleave did not apply to a Q8_0 matrix on a machine with strip kernels")
			}
			continue
		}
		rb := RowBytes(Q8_0, 128)
		ns := m.stripRowCount() / stripRows
		p := decodePart{w: m}
		p.shape(0)
		same := func(got, want []byte) bool {
			return len(got) == len(want) && (len(got) == 0 || &got[0] == &want[0])
		}
		for ua := 0; ua < p.units; ua++ {
			for ub := ua + 1; ub <= p.units; ub++ {
				var want []byte
				if ua < ns {
					want = m.strips[ua*stripRows*rb : min(ub, ns)*stripRows*rb]
				} else {
					want = m.Data[(ua-ns+ns*stripRows)*rb : (ub-ns+ns*stripRows)*rb]
				}
				if got := p.weights(ua, ub); !same(got, want) {
					t.Fatalf("interleaved %v, units [%d,%d): %d bytes at the wrong place, want %d", interleave, ua, ub, len(got), len(want))
				}
			}
		}
		// lead over ranges within and across two such parts stays in bounds.
		q := p
		q.first = p.units
		j := &decodeJob{parts: []decodePart{p, q}}
		for lo := 0; lo < 2*p.units; lo++ {
			for hi := lo + 1; hi <= 2*p.units; hi++ {
				j.lead(lo, hi)
			}
		}
	}
}
