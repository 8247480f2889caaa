package tensor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

// stripTypes are the weight types with a strip layout on this machine,
// failing the test where the machine has a kernel's instructions but the
// format is missing.
func stripTypes(t testing.TB) []DType {
	var ts []DType
	for _, dt := range []DType{Q4_0, Q5_0, Q8_0} {
		if stripFormats[dt] != nil {
			ts = append(ts, dt)
		} else if stripsExpected(dt) {
			t.Fatalf("%s has no strip format on this machine (%s), which has the kernel's instructions", dt, KernelName())
		}
	}
	return ts
}

// TestInterleaveRoundTrip checks that every row rebuilt from the strips,
// one row at a time and a strip at a time (assembly and Go), is the
// original row byte for byte, and that Row still dequantizes it.
func TestInterleaveRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dt := range stripTypes(t) {
		f := stripFormats[dt]
		for _, cols := range []int{32, 256, 896} {
			for _, rows := range []int{8, 13, 64} {
				m := randomMatrix(t, r, dt, rows, cols)
				rb := RowBytes(dt, cols)
				strips := interleave(f, m.Data, rows, cols, nil, nil)
				if len(strips) != rows/stripRows*stripRows*rb {
					t.Fatalf("%s %d×%d: %d strip bytes", dt, rows, cols, len(strips))
				}
				c := &Matrix{Type: dt, Rows: rows, Cols: cols, Data: m.Data, strips: strips}
				buf := make([]byte, rb)
				want, got := make([]float32, cols), make([]float32, cols)
				for i := range rows {
					if row := c.encodedRow(i, buf); !bytes.Equal(row, m.rowData(i)) {
						t.Fatalf("%s %d×%d: row %d differs after the round trip", dt, rows, cols, i)
					}
					m.Row(i, want)
					c.Row(i, got)
					for k := range want {
						if got[k] != want[k] {
							t.Fatalf("%s %d×%d: Row(%d)[%d] = %v from strips, %v from Data", dt, rows, cols, i, k, got[k], want[k])
						}
					}
				}
				for s := range rows / stripRows {
					strip, orig := strips[s*8*rb:(s+1)*8*rb], m.Data[s*8*rb:(s+1)*8*rb]
					asm, ref := make([]byte, 8*rb), make([]byte, 8*rb)
					rebuildStrip(f, strip, cols/QK, asm, rb)
					rebuildStripGo(f, strip, cols/QK, ref, rb)
					if !bytes.Equal(asm, orig) || !bytes.Equal(ref, orig) {
						t.Fatalf("%s %d×%d strip %d: rebuilt rows differ (assembly ok %v, Go ok %v)", dt, rows, cols, s, bytes.Equal(asm, orig), bytes.Equal(ref, orig))
					}
				}
			}
		}
	}
}

// TestStripKernelEqualsDecodeKernel checks each strip kernel against the
// row-by-row decode kernel of its type (bit for bit) and against a float64
// product of the dequantized weights and activations, on random data.
func TestStripKernelEqualsDecodeKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	types := stripTypes(t)
	if len(types) == 0 {
		t.Skipf("no strip kernels on this CPU (%s): Interleave is a no-op here, which TestInterleave checks", KernelName())
	}
	for _, dt := range types {
		for _, cols := range []int{128, 256, 896, 4864} {
			for _, rows := range []int{8, 16, 64, 136} {
				m := randomMatrix(t, r, dt, rows, cols)
				xf := gaussian(r, cols, 1)
				xq, err := Quantize(Q8_0, xf)
				if err != nil {
					t.Fatal(err)
				}
				side := sideOf(xq, cols)
				want := make([]float32, rows)
				activeQ8MatVec[dt](m.Data, RowBytes(dt, cols), xq, side, cols, want)
				ref, tol := oracleMatVec(t, m, xf)
				got := make([]float32, rows)
				stripFormats[dt].kernel(interleave(stripFormats[dt], m.Data, rows, cols, nil, nil), xq, side, cols, got)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s %d×%d row %d: strip kernel %v, decode kernel %v", dt, rows, cols, i, got[i], want[i])
					}
					if d := math.Abs(float64(got[i]) - ref[i]); d > tol[i] {
						t.Fatalf("%s %d×%d row %d: strip kernel %v, float64 oracle %v (tolerance %g)", dt, rows, cols, i, got[i], ref[i], tol[i])
					}
				}
			}
		}
	}
}

// BenchmarkStripKernel times one thread of each strip kernel against the
// row-by-row decode kernel on the same weights, cache-resident (~192 KiB)
// and streaming from memory (256 MiB), as BenchmarkDecodeKernel does.
func BenchmarkStripKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, dt := range stripTypes(b) {
		for _, cols := range []int{896, 4864} {
			rb := RowBytes(dt, cols)
			xq, err := Quantize(Q8_0, gaussian(r, cols, 1))
			if err != nil {
				b.Fatal(err)
			}
			side := sideOf(xq, cols)
			for _, size := range []struct {
				name string
				rows int
			}{{"cache", (192 << 10) / rb &^ 7}, {"dram", (256 << 20) / rb &^ 7}} {
				m := randomBenchMatrix(r, dt, size.rows, cols)
				strips := interleave(stripFormats[dt], m.Data, size.rows, cols, nil, nil)
				out := make([]float32, size.rows)
				for _, path := range []string{"strips", "rows"} {
					b.Run(fmt.Sprintf("%s/%d/%s/%s", dt, cols, size.name, path), func(b *testing.B) {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						b.SetBytes(int64(len(m.Data)))
						start := threadCPUTime()
						for b.Loop() {
							if path == "strips" {
								stripFormats[dt].kernel(strips, xq, side, cols, out)
							} else {
								activeQ8MatVec[dt](m.Data, rb, xq, side, cols, out)
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
}

// TestInterleave checks that MatVec, MatVecs, MatMul and Row give the same
// results, bit for bit, before and after Interleave, on one and two
// threads, and that Interleave applies exactly where it should.
func TestInterleave(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	defer SetThreads(0)
	if m := randomMatrix(t, r, Q6_K, 16, 256); m.Interleave(nil) {
		t.Fatal("Interleave applied to a Q6_K matrix")
	}
	if m := randomMatrix(t, r, Q4_0, 16, 96); m.Interleave(nil) {
		t.Fatal("Interleave applied to a row of three blocks (not whole groups of four)")
	}
	for _, dt := range []DType{Q4_0, Q5_0, Q8_0} {
		for _, cols := range []int{128, 896} {
			for _, rows := range []int{8, 13, 64, 136} {
				m := randomMatrix(t, r, dt, rows, cols)
				m2 := randomMatrix(t, r, dt, 16, cols)
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
				if got := m.Interleave(nil); got != (stripFormats[dt] != nil) {
					t.Fatalf("%s %d×%d: Interleave = %v with strip format %v", dt, rows, cols, got, stripFormats[dt] != nil)
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
								t.Fatalf("%s %d×%d threads %d: %s[%d] = %v interleaved, %v before", dt, rows, cols, th, name, i, pair[1][i], pair[0][i])
							}
						}
					}
				}
				// Dropped, the copy is gone and Data serves again.
				m.DropInterleaved()
				if m.Interleaved() {
					t.Fatalf("%s %d×%d: still interleaved after DropInterleaved", dt, rows, cols)
				}
				if again := run(); again.mv[rows-1] != before.mv[rows-1] || again.mm[0] != before.mm[0] {
					t.Fatalf("%s %d×%d: results changed after DropInterleaved", dt, rows, cols)
				}
			}
		}
	}
}

// TestArena interleaves matrices into one arena: the copies lie back to
// back in it and give the results of copies of their own, bit for bit; a
// full arena leaves the next copy to memory of its own; dropping every
// copy returns the mapping.
func TestArena(t *testing.T) {
	if !stripsExpected(Q8_0) {
		// No strip kernels here: nothing is interleaved, arena or not.
		m := randomMatrix(t, rand.New(rand.NewPCG(1, 1)), Q8_0, 16, 128)
		if m.InterleavedBytes() != 0 || m.InterleaveIn(NewArena(1<<20), nil) {
			t.Fatal("a matrix was interleaved on a machine without strip kernels")
		}
		return
	}
	r := rand.New(rand.NewPCG(21, 22))
	shapes := []struct {
		dt         DType
		rows, cols int
	}{{Q8_0, 21, 128}, {Q4_0, 64, 256}, {Q5_0, 16, 128}, {Q4_K, 16, 256}}
	var ms, own []*Matrix
	size := 0
	for _, s := range shapes {
		if s.dt == Q5_0 && !stripsExpected(Q5_0) {
			continue
		}
		m := randomMatrix(t, r, s.dt, s.rows, s.cols)
		c := &Matrix{Type: m.Type, Rows: m.Rows, Cols: m.Cols, Data: m.Data}
		want := 0
		if s.dt != Q4_K {
			want = (s.rows - s.rows%stripRows) * RowBytes(s.dt, s.cols)
		}
		if got := m.InterleavedBytes(); got != want {
			t.Fatalf("%s %d×%d: InterleavedBytes %d, want %d", s.dt, s.rows, s.cols, got, want)
		}
		size += want
		if want > 0 {
			size += arenaAlign
		}
		ms, own = append(ms, m), append(own, c)
	}
	if got := ArenaBytes(ms); got != size {
		t.Fatalf("ArenaBytes %d, want %d", got, size)
	}
	a := NewArena(size)
	for i, m := range ms {
		m.InterleaveIn(a, nil)
		own[i].Interleave(nil)
	}
	var prev []byte
	for i, m := range ms {
		if m.InterleavedBytes() != 0 {
			t.Fatalf("matrix %d: InterleavedBytes %d after interleaving", i, m.InterleavedBytes())
		}
		if m.strips == nil {
			continue
		}
		if m.arena != a {
			t.Fatalf("matrix %d: copy not in the arena", i)
		}
		if prev != nil && uintptr(unsafe.Pointer(&m.strips[0])) < uintptr(unsafe.Pointer(&prev[0])) {
			t.Fatalf("matrix %d lies before the one made before it", i)
		}
		prev = m.strips
		x := gaussian(r, m.Cols, 1)
		got, want := make([]float32, m.Rows), make([]float32, m.Rows)
		MatVec(got, m, x)
		MatVec(want, own[i], x)
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("matrix %d row %d: %v in the arena, %v in a mapping of its own", i, j, got[j], want[j])
			}
		}
	}
	// The arena is full: one more copy gets memory of its own.
	extra := randomMatrix(t, r, Q8_0, 16, 128)
	if !extra.InterleaveIn(a, nil) || extra.arena != nil {
		t.Fatal("a copy past the arena's capacity was not given memory of its own")
	}
	for _, m := range ms {
		m.DropInterleaved()
	}
	if a.buf != nil || a.live != 0 {
		t.Fatalf("arena still mapped (%d live) after every copy was dropped", a.live)
	}
}
