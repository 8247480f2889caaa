package tensor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// stripSide derives the decode kernels' side data from Q8_0 activations.
func stripSide(xq []byte, cols int) []int32 {
	nb := cols / QK
	scales, corr, side := make([]float32, nb), make([]int32, 8*nb), make([]int32, 4*nb)
	for b := range nb {
		scales[b] = f16At(xq[b*34:])
		q8Corrections(corr[8*b:8*b+8], xq[b*34+2:b*34+34])
	}
	decodeSide(side, scales, corr)
	return side
}

// TestInterleaveRoundTrip checks that every row rebuilt from the strips is
// the original row, byte for byte, and that Row still dequantizes it.
func TestInterleaveRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, rows := range []int{8, 13, 64} {
		m := randomMatrix(t, r, Q4_0, rows, 256)
		strips := interleaveQ4_0(m.Data, rows, 256, nil, nil)
		if len(strips) != rows/stripRows*stripRows*RowBytes(Q4_0, 256) {
			t.Fatalf("%d rows: %d strip bytes", rows, len(strips))
		}
		c := &Matrix{Type: Q4_0, Rows: rows, Cols: 256, Data: m.Data, strips: strips}
		buf := make([]byte, RowBytes(Q4_0, 256))
		want, got := make([]float32, 256), make([]float32, 256)
		for i := range rows {
			if row := c.encodedRow(i, buf); !bytes.Equal(row, m.rowData(i)) {
				t.Fatalf("%d rows: row %d differs after the round trip", rows, i)
			}
			m.Row(i, want)
			c.Row(i, got)
			for k := range want {
				if got[k] != want[k] {
					t.Fatalf("%d rows: Row(%d)[%d] = %v from strips, %v from Data", rows, i, k, got[k], want[k])
				}
			}
		}
	}
}

// TestStripKernelEqualsDecodeKernel checks the strip kernel against the
// row-by-row decode kernel (bit for bit) and against a float64 product of
// the dequantized weights and activations, on random data.
func TestStripKernelEqualsDecodeKernel(t *testing.T) {
	if stripKernel == nil {
		t.Skipf("no strip kernel on this CPU (%s): Interleave is a no-op here, which TestInterleave checks", KernelName())
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, cols := range []int{128, 256, 896, 4864} {
		for _, rows := range []int{8, 16, 64, 136} {
			m := randomMatrix(t, r, Q4_0, rows, cols)
			xf := gaussian(r, cols, 1)
			xq, err := Quantize(Q8_0, xf)
			if err != nil {
				t.Fatal(err)
			}
			side := stripSide(xq, cols)
			want := make([]float32, rows)
			activeQ8MatVec[Q4_0](m.Data, RowBytes(Q4_0, cols), xq, side, cols, want)
			ref, tol := oracleMatVec(t, m, xf)
			got := make([]float32, rows)
			stripKernel(interleaveQ4_0(m.Data, rows, cols, nil, nil), xq, side, cols, got)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%d×%d row %d: strip kernel %v, decode kernel %v", rows, cols, i, got[i], want[i])
				}
				if d := math.Abs(float64(got[i]) - ref[i]); d > tol[i] {
					t.Fatalf("%d×%d row %d: strip kernel %v, float64 oracle %v (tolerance %g)", rows, cols, i, got[i], ref[i], tol[i])
				}
			}
		}
	}
}

// BenchmarkStripKernel times one thread of the strip kernel against the
// row-by-row decode kernel on the same Q4_0 weights, cache-resident
// (64×4864) and streaming from memory (256 MiB), as BenchmarkDecodeKernel
// does.
func BenchmarkStripKernel(b *testing.B) {
	if stripKernel == nil {
		b.Skip("no strip kernel on this CPU")
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, cols := range []int{896, 4864} {
		rb := RowBytes(Q4_0, cols)
		xq, err := Quantize(Q8_0, gaussian(r, cols, 1))
		if err != nil {
			b.Fatal(err)
		}
		side := stripSide(xq, cols)
		for _, size := range []struct {
			name string
			rows int
		}{{"cache", (192 << 10) / rb &^ 7}, {"dram", (256 << 20) / rb &^ 7}} {
			m := randomBenchMatrix(r, Q4_0, size.rows, cols)
			strips := interleaveQ4_0(m.Data, size.rows, cols, nil, nil)
			out := make([]float32, size.rows)
			for _, path := range []string{"strips", "rows"} {
				b.Run(fmt.Sprintf("%d/%s/%s", cols, size.name, path), func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					b.SetBytes(int64(len(m.Data)))
					start := threadCPUTime()
					for b.Loop() {
						if path == "strips" {
							stripKernel(strips, xq, side, cols, out)
						} else {
							activeQ8MatVec[Q4_0](m.Data, rb, xq, side, cols, out)
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

// TestInterleave checks that MatVec, MatVecs, MatMul and Row give the same
// results, bit for bit, before and after Interleave, on one and two
// threads, and that Interleave applies exactly where it should.
func TestInterleave(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	defer SetThreads(0)
	if m := randomMatrix(t, r, Q8_0, 16, 128); m.Interleave(nil) {
		t.Fatal("Interleave applied to a Q8_0 matrix")
	}
	if m := randomMatrix(t, r, Q4_0, 16, 96); m.Interleave(nil) {
		t.Fatal("Interleave applied to a row of three blocks (not whole groups of four)")
	}
	for _, cols := range []int{128, 896} {
		for _, rows := range []int{8, 13, 64, 136} {
			m := randomMatrix(t, r, Q4_0, rows, cols)
			m2 := randomMatrix(t, r, Q4_0, 16, cols)
			x := gaussian(r, cols, 1)
			const n = 5
			xs := gaussian(r, n*cols, 1)
			type results struct{ mv, mvs0, mvs1, mm, row []float32 }
			run := func() results {
				res := results{make([]float32, rows), make([]float32, rows), make([]float32, 16), make([]float32, n*rows), make([]float32, cols)}
				MatVec(res.mv, m, x)
				MatVecs([][]float32{res.mvs0, res.mvs1}, []*Matrix{m, m2}, x)
				MatMul(res.mm, m, xs, n)
				m.Row(rows-1, res.row)
				return res
			}
			SetThreads(1)
			before := run()
			if got := m.Interleave(nil); got != (stripKernel != nil) {
				t.Fatalf("%d×%d: Interleave = %v with strip kernel %v", rows, cols, got, stripKernel != nil)
			}
			m2.Interleave(nil)
			for _, th := range []int{1, 2} {
				SetThreads(th)
				after := run()
				for name, pair := range map[string][2][]float32{
					"MatVec": {before.mv, after.mv}, "MatVecs[0]": {before.mvs0, after.mvs0},
					"MatVecs[1]": {before.mvs1, after.mvs1}, "MatMul": {before.mm, after.mm}, "Row": {before.row, after.row},
				} {
					for i := range pair[0] {
						if pair[0][i] != pair[1][i] {
							t.Fatalf("%d×%d threads %d: %s[%d] = %v interleaved, %v before", rows, cols, th, name, i, pair[1][i], pair[0][i])
						}
					}
				}
			}
		}
	}
}

// TestRebuildStrip checks the assembly strip rebuild against the Go one
// and the original rows.
func TestRebuildStrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, cols := range []int{32, 128, 896} {
		m := randomMatrix(t, r, Q4_0, 16, cols)
		strips := interleaveQ4_0(m.Data, 16, cols, nil, nil)
		rb := RowBytes(Q4_0, cols)
		for s := range 2 {
			got, ref := make([]byte, 8*rb), make([]byte, 8*rb)
			rebuildStrip(strips[s*8*rb:(s+1)*8*rb], cols, got)
			rebuildStripGo(strips[s*8*rb:(s+1)*8*rb], cols, ref)
			if want := m.Data[s*8*rb : (s+1)*8*rb]; !bytes.Equal(got, want) || !bytes.Equal(ref, want) {
				t.Fatalf("cols %d strip %d: rebuilt rows differ from the originals (asm %v, Go %v)", cols, s, bytes.Equal(got, want), bytes.Equal(ref, want))
			}
		}
	}
}
