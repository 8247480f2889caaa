package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomMatrix quantizes Gaussian weights (never all zero) into a rows×cols
// matrix of type t.
func randomMatrix(t testing.TB, r *rand.Rand, dt DType, rows, cols int) *Matrix {
	t.Helper()
	data, err := Quantize(dt, gaussian(r, rows*cols, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(dt, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// oracleMatVec computes the product in float64 from the dequantized weights
// and the dequantized (8-bit quantized) activation, independently of the
// dot kernels. It also returns a tolerance per row: 2e-5·Σ|w·x|, plus, for
// Q4_1/Q5_1, the rounding of Q8_1's f16 s = d·Σq, which the format carries
// into the minimum's term (|m_w·s_x|·2^−11 per block).
func oracleMatVec(t testing.TB, m *Matrix, x []float32) (want, tol []float64) {
	t.Helper()
	xa := x
	at := activationType(m.Type)
	var xq []byte
	if at != F32 {
		var err error
		if xq, err = Quantize(at, x); err != nil {
			t.Fatal(err)
		}
		xa = make([]float32, len(x))
		if err := Dequantize(at, xq, xa); err != nil {
			t.Fatal(err)
		}
	}
	row := make([]float32, m.Cols)
	want, tol = make([]float64, m.Rows), make([]float64, m.Rows)
	for r := range m.Rows {
		m.Row(r, row)
		var mag float64
		for c, w := range row {
			want[r] += float64(w) * float64(xa[c])
			mag += math.Abs(float64(w) * float64(xa[c]))
		}
		tol[r] = 2e-5*mag + 1e-6
		if at == Q8_1 {
			wr := m.rowData(r)
			bb := m.Type.BlockBytes()
			for b := 0; b < m.Cols/QK; b++ {
				tol[r] += math.Abs(float64(f16At(wr[b*bb+2:])*f16At(xq[b*36+2:]))) / 2048
			}
		}
	}
	return want, tol
}

func colsFor(dt DType) []int {
	switch dt.BlockSize() {
	case QKK:
		return []int{256, 512, 1280}
	case QK:
		return []int{32, 96, 288, 896}
	default:
		return []int{1, 7, 31, 64, 100, 896}
	}
}

var kernelTypes = []DType{F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K}

func TestMatVecMatchesOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, dt := range kernelTypes {
		for _, cols := range colsFor(dt) {
			t.Run(fmt.Sprintf("%s/%d", dt, cols), func(t *testing.T) {
				m := randomMatrix(t, r, dt, 37, cols)
				x := gaussian(r, cols, 1)
				dst := make([]float32, m.Rows)
				MatVec(dst, m, x)
				want, tol := oracleMatVec(t, m, x)
				for i := range dst {
					if d := math.Abs(float64(dst[i]) - want[i]); d > tol[i] {
						t.Fatalf("row %d: got %g, want %g (tolerance %g)", i, dst[i], want[i], tol[i])
					}
				}
			})
		}
	}
}

// TestMatVecApproximatesFloat checks the end-to-end error (weights and
// activation quantization) against the exact float product.
func TestMatVecApproximatesFloat(t *testing.T) {
	bounds := map[DType]float64{F32: 1e-6, F16: 1e-3, BF16: 6e-3, Q8_0: 0.015, Q8_K: 0.02,
		Q6_K: 0.04, Q5_K: 0.06, Q5_0: 0.07, Q4_K: 0.1, Q4_0: 0.13, Q8_1: 0.015, Q5_1: 0.06, Q4_1: 0.12}
	r := rand.New(rand.NewPCG(13, 14))
	const rows, cols = 64, 1024
	w := gaussian(r, rows*cols, 1)
	x := gaussian(r, cols, 1)
	exact := make([]float32, rows)
	for i := range rows {
		exact[i] = float32(dot64(w[i*cols:(i+1)*cols], x))
	}
	for _, dt := range kernelTypes {
		data, err := Quantize(dt, w)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMatrix(dt, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, rows)
		MatVec(got, m, x)
		if e := relRMSError(exact, got); e > bounds[dt] {
			t.Errorf("%s: relative RMS error %.4f > %g", dt, e, bounds[dt])
		}
	}
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestKernelsMatchReference is the differential test between the active
// (assembly, where available) kernels and the pure-Go references on random
// non-zero data.
func TestKernelsMatchReference(t *testing.T) {
	t.Logf("kernels: %s; variants on this CPU: %v", KernelName(), variantNames())
	r := rand.New(rand.NewPCG(15, 16))
	for _, v := range testedVariants() {
		for _, dt := range kernelTypes {
			if v.rows[dt] != nil {
				testVariantAgainstReference(t, r, v.name, dt, v.rows[dt])
			}
		}
	}
}

// testedVariants is the active kernel set plus every variant this CPU runs.
func testedVariants() []kernelVariant {
	return append([]kernelVariant{{"active", activeRows}}, kernelVariants()...)
}

func variantNames() []string {
	var names []string
	for _, v := range kernelVariants() {
		names = append(names, v.name)
	}
	return names
}

// oneRow runs a rows kernel on a single row.
func oneRow(k rowsFunc, w, x []byte, n int) float32 {
	var out [1]float32
	k(w, len(w), x, n, out[:])
	return out[0]
}

func testVariantAgainstReference(t *testing.T, r *rand.Rand, variant string, dt DType, rows rowsFunc) {
	t.Helper()
	{
		at := activationType(dt)
		for _, cols := range colsFor(dt) {
			for trial := range 20 {
				w, err := Quantize(dt, gaussian(r, cols, 0.1+r.Float64()*3))
				if err != nil {
					t.Fatal(err)
				}
				xf := gaussian(r, cols, 0.1+r.Float64()*3)
				x := float32Bytes(xf)
				if at != F32 {
					if x, err = Quantize(at, xf); err != nil {
						t.Fatal(err)
					}
				}
				got, want := oneRow(rows, w, x, cols), refDot[dt](w, x, cols)
				var mag float64
				wf, xd := make([]float32, cols), make([]float32, cols)
				_ = Dequantize(dt, w, wf)
				_ = Dequantize(at, x, xd)
				for i := range wf {
					mag += math.Abs(float64(wf[i]) * float64(xd[i]))
				}
				if d := math.Abs(float64(got) - float64(want)); d > 1e-5*mag {
					t.Fatalf("%s %s cols %d trial %d: kernel %g, reference %g (Σ|wx| %g)", variant, dt, cols, trial, got, want, mag)
				}
			}
		}
	}
}

// TestIntegerKernelsBitExact sets every block scale to 1 so that the
// quantized dot products are integers (exact in float32): the assembly and
// the reference must then agree exactly.
func TestIntegerKernelsBitExact(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	setUnitScales := func(dt DType, b []byte) {
		bb := dt.BlockBytes()
		for o := 0; o < len(b); o += bb {
			switch dt {
			case Q8_0, Q4_0, Q5_0:
				binary.LittleEndian.PutUint16(b[o:], 0x3c00)
			case Q4_1, Q5_1, Q8_1: // d = 1 and m (or s) = 1
				binary.LittleEndian.PutUint16(b[o:], 0x3c00)
				binary.LittleEndian.PutUint16(b[o+2:], 0x3c00)
			case Q4_K, Q5_K:
				binary.LittleEndian.PutUint16(b[o:], 0x3c00)
				binary.LittleEndian.PutUint16(b[o+2:], 0x3c00)
			case Q6_K:
				binary.LittleEndian.PutUint16(b[o+208:], 0x3c00)
			case Q8_K:
				binary.LittleEndian.PutUint32(b[o:], math.Float32bits(1))
			}
		}
	}
	for _, v := range testedVariants() {
		for _, dt := range []DType{Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K} {
			rows := v.rows[dt]
			if rows == nil {
				continue
			}
			at := activationType(dt)
			nonZero := 0
			for _, cols := range colsFor(dt) {
				for range 20 {
					w, _ := Quantize(dt, gaussian(r, cols, 1))
					x, _ := Quantize(at, gaussian(r, cols, 1))
					setUnitScales(dt, w)
					setUnitScales(at, x)
					got, want := oneRow(rows, w, x, cols), refDot[dt](w, x, cols)
					if got != want {
						t.Fatalf("%s %s cols %d: kernel %v, reference %v", v.name, dt, cols, got, want)
					}
					if want != 0 {
						nonZero++
					}
				}
			}
			if nonZero < 50 {
				t.Fatalf("%s %s: only %d non-zero products; the test data is degenerate", v.name, dt, nonZero)
			}
		}
	}
}

func TestMatMulEqualsMatVecs(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, dt := range kernelTypes {
		cols := colsFor(dt)[1]
		m := randomMatrix(t, r, dt, 50, cols)
		const n = 5
		x := gaussian(r, n*cols, 1)
		got := make([]float32, n*m.Rows)
		MatMul(got, m, x, n)
		for tok := range n {
			want := make([]float32, m.Rows)
			MatVec(want, m, x[tok*cols:(tok+1)*cols])
			for i := range want {
				if got[tok*m.Rows+i] != want[i] {
					t.Fatalf("%s token %d row %d: MatMul %g, MatVec %g", dt, tok, i, got[tok*m.Rows+i], want[i])
				}
			}
		}
	}
}

func TestMatVecThreadCountsAgree(t *testing.T) {
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(21, 22))
	m := randomMatrix(t, r, Q4_0, 1000, 896)
	x := gaussian(r, 896, 1)
	SetThreads(1)
	want := make([]float32, m.Rows)
	MatVec(want, m, x)
	for _, n := range []int{2, 3, 7} {
		SetThreads(n)
		if Threads() != n {
			t.Fatalf("Threads() = %d after SetThreads(%d)", Threads(), n)
		}
		got := make([]float32, m.Rows)
		MatVec(got, m, x)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("threads %d row %d: %g vs %g", n, i, got[i], want[i])
			}
		}
	}
}

func TestMatVecDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for _, dt := range []DType{Q4_0, Q8_0, Q4_K, F32} {
		m := randomMatrix(t, r, dt, 512, 1024)
		x := gaussian(r, 1024, 1)
		dst := make([]float32, 512)
		MatVec(dst, m, x)
		if a := testing.AllocsPerRun(50, func() { MatVec(dst, m, x) }); a > 0 {
			t.Errorf("%s: MatVec allocates %.1f times per call", dt, a)
		}
	}
}

func TestNewMatrixAndRow(t *testing.T) {
	if _, err := NewMatrix(Q4_0, 2, 32, make([]byte, 35)); err == nil {
		t.Error("NewMatrix accepted wrong data length")
	}
	if _, err := NewMatrix(Q4_K, 2, 100, nil); err == nil {
		t.Error("NewMatrix accepted cols not a multiple of 256")
	}
	if _, err := NewMatrix(Q3_K, 1, 256, make([]byte, 110)); err == nil {
		t.Error("NewMatrix accepted unsupported type")
	}
	r := rand.New(rand.NewPCG(25, 26))
	w := gaussian(r, 3*64, 1)
	data, _ := Quantize(Q8_0, w)
	m, err := NewMatrix(Q8_0, 3, 64, data)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, 64)
	m.Row(2, row)
	all := make([]float32, 3*64)
	_ = Dequantize(Q8_0, data, all)
	for i := range row {
		if row[i] != all[128+i] {
			t.Fatalf("Row(2)[%d] = %g, want %g", i, row[i], all[128+i])
		}
	}
}

func TestMatVecConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	m := randomMatrix(t, r, Q5_0, 700, 896)
	x := gaussian(r, 896, 1)
	want := make([]float32, m.Rows)
	MatVec(want, m, x)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			got := make([]float32, m.Rows)
			for range 20 {
				MatVec(got, m, x)
				for i := range got {
					if got[i] != want[i] {
						errs <- fmt.Errorf("goroutine %d row %d: %g vs %g", g, i, got[i], want[i])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewF32Matrix(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6}
	m, err := NewF32Matrix(2, 3, w)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 2)
	MatVec(dst, m, []float32{1, 0, -1})
	if dst[0] != -2 || dst[1] != -2 {
		t.Fatalf("MatVec = %v, want [-2 -2]", dst)
	}
	if _, err := NewF32Matrix(2, 4, w); err == nil {
		t.Fatal("NewF32Matrix accepted a short slice")
	}
}

func TestBadShapesPanic(t *testing.T) {
	m, err := NewF32Matrix(2, 3, make([]float32, 6))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func()
	}{
		{"MatVec short x", func() { MatVec(make([]float32, 2), m, make([]float32, 2)) }},
		{"MatVec short dst", func() { MatVec(make([]float32, 1), m, make([]float32, 3)) }},
		{"MatMul wrong n", func() { MatMul(make([]float32, 4), m, make([]float32, 6), 3) }},
		{"Row out of range", func() { m.Row(2, make([]float32, 3)) }},
		{"malformed matrix", func() {
			bad := &Matrix{Type: Q4_0, Rows: 4, Cols: 32, Data: make([]byte, 18)}
			MatVec(make([]float32, 4), bad, make([]float32, 32))
		}},
		{"Add mismatch", func() { Add(make([]float32, 2), make([]float32, 2), make([]float32, 3)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.call()
		})
	}
}

// TestRowsKernelsMatchSingleRows checks the multi-row entry points (the
// assembly loops over rows itself) against one call per row.
func TestRowsKernelsMatchSingleRows(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	for _, v := range testedVariants() {
		for _, dt := range kernelTypes {
			rows := v.rows[dt]
			if rows == nil {
				continue
			}
			cols := colsFor(dt)[1]
			m := randomMatrix(t, r, dt, 7, cols)
			xf := gaussian(r, cols, 1)
			x := float32Bytes(xf)
			if at := activationType(dt); at != F32 {
				x, _ = Quantize(at, xf)
			}
			rb := RowBytes(dt, cols)
			got := make([]float32, 7)
			rows(m.Data, rb, x, cols, got)
			for i := range got {
				want := refDot[dt](m.Data[i*rb:(i+1)*rb], x, cols)
				single := oneRow(rows, m.Data[i*rb:(i+1)*rb], x, cols)
				if got[i] != single {
					t.Fatalf("%s %s row %d: multi-row %g, single %g", v.name, dt, i, got[i], single)
				}
				if math.Abs(float64(got[i]-want)) > 1e-4*(1+math.Abs(float64(want))) {
					t.Fatalf("%s %s row %d: %g, reference %g", v.name, dt, i, got[i], want)
				}
			}
		}
	}
}

// TestMatVecsMatchesMatVec holds the fused MatVecs to one MatVec per
// matrix, bit for bit: one type or several (up to all four activation
// formats in one call), with and without row-interleaved copies, and
// without allocating once warm.
func TestMatVecsMatchesMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name  string
		types []DType
		rows  []int
		cols  int
	}{
		{"q k v Q4_0", []DType{Q4_0, Q4_0, Q4_0}, []int{896, 128, 128}, 896},
		{"gate up Q8_0", []DType{Q8_0, Q8_0}, []int{1000, 1000}, 512},
		{"one matrix", []DType{Q4_0}, []int{3}, 256},
		{"odd block count", []DType{Q4_0, Q4_0}, []int{70, 9}, 96},
		{"mixed types", []DType{Q4_0, Q6_K, Q8_0}, []int{64, 32, 16}, 512},
		{"q k v of a 0.5B Q4_K_M", []DType{Q5_0, Q5_0, Q8_0}, []int{896, 128, 128}, 896},
		{"q k v of a 1.5B Q4_K_M", []DType{Q4_K, Q4_K, Q6_K}, []int{64, 16, 16}, 1536},
		{"four activation formats", []DType{Q8_0, Q4_1, Q4_K, F32}, []int{24, 9, 16, 8}, 512},
		{"float", []DType{F16, F16}, []int{40, 8}, 64},
		{"float and quantized", []DType{BF16, Q4_0}, []int{40, 72}, 256},
	}
	for _, c := range cases {
		for _, interleave := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/interleave=%v", c.name, interleave), func(t *testing.T) {
				x := gaussian(r, c.cols, 1)
				ws := make([]*Matrix, len(c.types))
				got, want := make([][]float32, len(ws)), make([][]float32, len(ws))
				for i, dt := range c.types {
					ws[i] = randomMatrix(t, r, dt, c.rows[i], c.cols)
					got[i], want[i] = make([]float32, c.rows[i]), make([]float32, c.rows[i])
					MatVec(want[i], ws[i], x)
					if interleave && i%2 == 0 { // some matrices in strips, some not
						ws[i].Interleave(nil)
					}
				}
				MatVecs(got, ws, x)
				for i := range got {
					for j := range got[i] {
						if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
							t.Fatalf("matrix %d (%s) row %d: MatVecs %g, MatVec %g", i, c.types[i], j, got[i][j], want[i][j])
						}
					}
				}
				if raceEnabled {
					return
				}
				if a := testing.AllocsPerRun(5, func() { MatVecs(got, ws, x) }); a != 0 {
					t.Errorf("MatVecs allocates %v times per call", a)
				}
			})
		}
	}
}

// TestKQuantVNNIEqualsAVX2 holds the AVX-512 VNNI Q4_K and Q6_K kernels to
// the AVX2 ones bit for bit (they sum the same integers per lane and do
// the same float work), on random rows with real scales and mins, several
// rows per call.
func TestKQuantVNNIEqualsAVX2(t *testing.T) {
	for _, dt := range []DType{Q4_K, Q6_K} {
		var avx2, vnni rowsFunc
		for _, v := range kernelVariants() {
			switch v.name {
			case "avx2":
				avx2 = v.rows[dt]
			case "avx512vnni":
				vnni = v.rows[dt]
			}
		}
		if avx2 == nil || vnni == nil {
			t.Skipf("this CPU runs %v, not both kernels", variantNames())
		}
		r := rand.New(rand.NewPCG(19, 20))
		for _, cols := range []int{256, 1536, 4864} {
			for _, rows := range []int{1, 3, 8} {
				m := randomMatrix(t, r, dt, rows, cols)
				x, err := Quantize(Q8_K, gaussian(r, cols, 0.1+3*r.Float64()))
				if err != nil {
					t.Fatal(err)
				}
				rb := RowBytes(dt, cols)
				got, want := make([]float32, rows), make([]float32, rows)
				vnni(m.Data, rb, x, cols, got)
				avx2(m.Data, rb, x, cols, want)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s cols %d rows %d: row %d: VNNI %g, AVX2 %g", dt, cols, rows, i, got[i], want[i])
					}
				}
			}
		}
	}
}
