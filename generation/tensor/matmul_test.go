package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var tileTypes = []DType{Q4_0, Q5_0, Q8_0}

// testedTileSets is the reference tile kernels plus every assembly set
// this CPU runs.
func testedTileSets() []tileKernelSet {
	return append([]tileKernelSet{{"ref", refTileKernels}}, tileKernelSets()...)
}

func TestTileDecodersMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, set := range testedTileSets() {
		for _, dt := range tileTypes {
			k, ok := set.kernels[dt]
			if !ok {
				continue
			}
			for _, cols := range []int{32, 96, 896} {
				nb := cols / QK
				w, err := Quantize(dt, gaussian(r, cols, 0.1+2*r.Float64()))
				if err != nil {
					t.Fatal(err)
				}
				q, d := make([]byte, decodedBytes*nb), make([]float32, nb)
				k.decode(w, nb, q, d)
				// Independent oracle: Dequantize gives q·d per element.
				vals := make([]float32, cols)
				if err := Dequantize(dt, w, vals); err != nil {
					t.Fatal(err)
				}
				nonZero := 0
				for b := range nb {
					if d[b] != f16At(w[b*dt.BlockBytes():]) {
						t.Fatalf("%s %s block %d: scale %g, want %g", set.name, dt, b, d[b], f16At(w[b*dt.BlockBytes():]))
					}
					for i := range QK {
						v := int8(q[64*b+i])
						if got, want := float32(v)*d[b], vals[b*QK+i]; got != want {
							t.Fatalf("%s %s block %d element %d: %d·%g = %g, want %g", set.name, dt, b, i, v, d[b], got, want)
						}
						if k.offset {
							if q[64*b+QK+i] != byte(v)^0x80 {
								t.Fatalf("%s %s block %d element %d: offset form %d of %d", set.name, dt, b, i, q[64*b+QK+i], v)
							}
						} else if mag := q[64*b+QK+i]; int(mag) != max(int(v), -int(v)) {
							t.Fatalf("%s %s block %d element %d: magnitude %d of %d", set.name, dt, b, i, mag, v)
						}
						if v != 0 {
							nonZero++
						}
					}
				}
				if nonZero < cols/2 {
					t.Fatalf("%s %s: only %d of %d quants non-zero; degenerate test data", set.name, dt, nonZero, cols)
				}
			}
		}
	}
}

// tileDots runs a tile kernel for one weight row against n activation rows.
func tileDots(k tileKernel, dt DType, w []byte, cols int, a *Activations) []float32 {
	nb := cols / dt.BlockSize()
	q, d := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
	k.decode(w, nb, q, d)
	if k.prepare != nil {
		k.prepare(a)
	}
	out := make([]float32, 3*a.n)
	k.dots(q, d, nb, a, 0, a.n, out[1:], 3)
	for i := range out {
		if i%3 != 1 && out[i] != 0 {
			panic(fmt.Sprintf("tile kernel wrote dst[%d] outside its stride", i))
		}
	}
	res := make([]float32, a.n)
	for i := range res {
		res[i] = out[1+3*i]
	}
	return res
}

// tileDots2 runs a two-row tile kernel on weight rows w0, w1 against all
// activation rows of a, returning each row's results.
func tileDots2(k tileKernel, dt DType, w0, w1 []byte, cols int, a *Activations) [2][]float32 {
	nb := cols / dt.BlockSize()
	q0, d0 := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
	q1, d1 := make([]byte, decodedBytes*cols/QK), make([]float32, cols/QK)
	k.decode(w0, nb, q0, d0)
	k.decode(w1, nb, q1, d1)
	if k.prepare != nil {
		k.prepare(a)
	}
	const stride = 5
	out := make([]float32, stride*a.n)
	k.dots2(q0, q1, d0, d1, nb, a, 0, a.n, out[1:], stride)
	var res [2][]float32
	for i := range res {
		res[i] = make([]float32, a.n)
		for tok := range a.n {
			res[i][tok] = out[1+stride*tok+i]
		}
	}
	for i, v := range out {
		if j := (i - 1) % stride; (i == 0 || j > 1) && v != 0 {
			panic(fmt.Sprintf("two-row tile kernel wrote dst[%d] outside its rows", i))
		}
	}
	return res
}

// TestTileKernelsMatchRowKernels is the differential test of the tile
// kernels: the reference tile kernel must equal the reference row dot
// bit for bit, and every tile kernel must equal the row kernel MatVec uses
// (the assembly performs the same float operations in the same order), on
// random data with random scales and with unit scales (integer results).
func TestTileKernelsMatchRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, unit := range []bool{false, true} {
		for _, set := range testedTileSets() {
			for _, dt := range append(slices.Clone(tileTypes), Q4_K, Q6_K) {
				k, ok := set.kernels[dt]
				if !ok {
					continue
				}
				colsList := []int{32, 64, 96, 128, 288, 896, 4864}
				if dt.BlockSize() == QKK {
					colsList = []int{256, 512, 1280, 4864}
				}
				for _, cols := range colsList {
					const n = 7
					w, _ := Quantize(dt, gaussian(r, cols, 0.1+2*r.Float64()))
					a := QuantizeActivations(dt, gaussian(r, n*cols, 0.1+2*r.Float64()), n)
					if unit && dt.BlockSize() == QKK {
						for o := 0; o < len(w); o += dt.BlockBytes() {
							if dt == Q6_K {
								binary.LittleEndian.PutUint16(w[o+208:], 0x3c00) // d
								continue
							}
							binary.LittleEndian.PutUint16(w[o:], 0x3c00)   // d
							binary.LittleEndian.PutUint16(w[o+2:], 0x3c00) // dmin
						}
						for o := 0; o < len(a.data); o += Q8_K.BlockBytes() {
							binary.LittleEndian.PutUint32(a.data[o:], math.Float32bits(1))
						}
					} else if unit {
						for o := 0; o < len(w); o += dt.BlockBytes() {
							binary.LittleEndian.PutUint16(w[o:], 0x3c00)
						}
						for o := 0; o < len(a.data); o += 34 {
							binary.LittleEndian.PutUint16(a.data[o:], 0x3c00)
						}
						for i := range a.scales {
							a.scales[i] = 1
						}
						a.hasPacked = false // rebuild the packed copy of the scales
					}
					got := tileDots(k, dt, w, cols, a)
					rows := activeRows[dt]
					if set.name == "ref" {
						rows = rowsFromDot(refDot[dt])
					}
					nonZero := 0
					for tok := range n {
						x := a.data[tok*a.stride : (tok+1)*a.stride]
						want := oneRow(rows, w, x, cols)
						if got[tok] != want {
							t.Fatalf("%s %s cols %d unit %v token %d: tile %v, row kernel %v", set.name, dt, cols, unit, tok, got[tok], want)
						}
						ref := refDot[dt](w, x, cols)
						if unit && got[tok] != ref {
							t.Fatalf("%s %s cols %d token %d: integer result %v, reference %v", set.name, dt, cols, tok, got[tok], ref)
						}
						if d := math.Abs(float64(got[tok] - ref)); d > 1e-4*(1+math.Abs(float64(ref))) {
							t.Fatalf("%s %s cols %d token %d: %v, reference %v", set.name, dt, cols, tok, got[tok], ref)
						}
						if ref != 0 {
							nonZero++
						}
					}
					if nonZero < n-1 {
						t.Fatalf("%s %s cols %d: degenerate products", set.name, dt, cols)
					}
					if k.dots2 != nil {
						// Two rows at once: the second row is a new random
						// one, the first as above.
						w2, _ := Quantize(dt, gaussian(r, cols, 0.1+2*r.Float64()))
						got2 := tileDots2(k, dt, w, w2, cols, a)
						for tok := range n {
							x := a.data[tok*a.stride : (tok+1)*a.stride]
							for i, wr := range [][]byte{w, w2} {
								if want := oneRow(rows, wr, x, cols); got2[i][tok] != want {
									t.Fatalf("%s %s cols %d token %d: two-row kernel row %d %v, row kernel %v", set.name, dt, cols, tok, i, got2[i][tok], want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulMatchesMatVec checks the tiled, 2-D parallel MatMul against one
// MatVec per token, bit for bit, over shapes that leave partial row and
// token tiles, on several thread counts.
func TestMatMulMatchesMatVec(t *testing.T) {
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(45, 46))
	for _, dt := range append(slices.Clone(tileTypes), Q4_K, Q6_K, F32) {
		cols := 288
		if dt.BlockSize() == QKK {
			cols = 512
		}
		for _, shape := range []struct{ rows, n int }{{45, 2}, {70, 65}, {33, 130}, {200, 7}} {
			m := randomMatrix(t, r, dt, shape.rows, cols)
			x := gaussian(r, shape.n*cols, 1)
			want := make([]float32, shape.n*shape.rows)
			for tok := range shape.n {
				MatVec(want[tok*shape.rows:(tok+1)*shape.rows], m, x[tok*cols:(tok+1)*cols])
			}
			for _, th := range []int{1, 2, 3} {
				SetThreads(th)
				got := make([]float32, shape.n*shape.rows+1)
				got[len(got)-1] = 42
				MatMul(got, m, x, shape.n)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s %d×%d n=%d threads %d: element %d (token %d row %d) = %v, MatVec %v",
							dt, shape.rows, cols, shape.n, th, i, i/shape.rows, i%shape.rows, got[i], want[i])
					}
				}
				if got[len(got)-1] != 42 {
					t.Fatalf("%s: MatMul wrote past n·Rows", dt)
				}
			}
		}
	}
}

// TestMatMulQReusesActivations multiplies one set of quantized activations
// by several weights (as q, k and v share their input).
func TestMatMulQReusesActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	const n, cols = 9, 896
	x := gaussian(r, n*cols, 1)
	a := QuantizeActivations(Q4_0, x, n)
	if a.Type() != Q8_0 || a.Rows() != n || a.Cols() != cols {
		t.Fatalf("activations %s %d×%d, want Q8_0 %d×%d", a.Type(), a.Rows(), a.Cols(), n, cols)
	}
	for _, dt := range tileTypes { // all multiply Q8_0 activations
		for _, rows := range []int{128, 896} {
			m := randomMatrix(t, r, dt, rows, cols)
			want := make([]float32, n*rows)
			MatMul(want, m, x, n)
			got := make([]float32, n*rows)
			MatMulQ(got, m, a)
			if !slices.Equal(got, want) {
				t.Fatalf("%s %d rows: MatMulQ differs from MatMul", dt, rows)
			}
		}
	}
	// Reload with K-quant activations and use a Q4_K weight.
	a.Load(Q4_K, gaussian(r, n*512, 1), n)
	m := randomMatrix(t, r, Q4_K, 40, 512)
	got := make([]float32, n*40)
	MatMulQ(got, m, a)
	if a.Type() != Q8_K || slices.Max(got) == 0 {
		t.Fatalf("Q4_K MatMulQ: activations %s, results %v", a.Type(), got[:4])
	}
}

func TestMatMulQRejectsMismatch(t *testing.T) {
	r := rand.New(rand.NewPCG(49, 50))
	m := randomMatrix(t, r, Q4_0, 8, 64)
	tests := []struct {
		name string
		call func()
	}{
		{"K-quant activations", func() { MatMulQ(make([]float32, 16), m, QuantizeActivations(Q8_K, make([]float32, 512), 2)) }},
		{"wrong width", func() { MatMulQ(make([]float32, 16), m, QuantizeActivations(Q8_0, make([]float32, 192), 2)) }},
		{"short dst", func() { MatMulQ(make([]float32, 15), m, QuantizeActivations(Q8_0, make([]float32, 128), 2)) }},
		{"ragged rows", func() { QuantizeActivations(Q8_0, make([]float32, 100), 3) }},
		{"partial block", func() { QuantizeActivations(Q8_0, make([]float32, 40), 1) }},
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

func TestMatMulDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := rand.New(rand.NewPCG(51, 52))
	for _, dt := range []DType{Q4_0, Q8_0, Q4_K} {
		const n = 16
		m := randomMatrix(t, r, dt, 300, 512)
		x := gaussian(r, n*512, 1)
		dst := make([]float32, n*300)
		MatMul(dst, m, x, n)
		if a := testing.AllocsPerRun(20, func() { MatMul(dst, m, x, n) }); a > 0 {
			t.Errorf("%s: MatMul allocates %.1f times per call", dt, a)
		}
	}
}

// TestActivationQuantizerMatchesReference checks the Q8_0 activation path
// (assembly where available) against quantizeBlockQ8_0 byte for byte, with
// its float scales and corrections, including ties, zero blocks and
// blocks too tiny for a finite inverse scale.
func TestActivationQuantizerMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	const n, cols = 3, 10 * QK
	x := gaussian(r, n*cols, 2)
	blk := func(i int) []float32 { return x[i*QK : (i+1)*QK] }
	clear(blk(1)) // all zero
	for i := range blk(2) {
		blk(2)[i] = float32(i) - 15.5 // ties: d = 1, v·id = k + 0.5
	}
	blk(2)[31] = 127
	for i := range blk(3) {
		blk(3)[i] = float32(r.NormFloat64()) * 1e-39 // subnormal inputs
	}
	for i := range blk(4) {
		blk(4)[i] = float32(r.NormFloat64()) * 1e30
	}
	a := QuantizeActivations(Q8_0, x, n)
	a.ensureCorrections()
	want := make([]byte, 34)
	corr := make([]int32, 8)
	for b := range n * cols / QK {
		quantizeBlockQ8_0(want, blk(b))
		if got := a.data[b*34 : (b+1)*34]; !slices.Equal(got, want) {
			t.Fatalf("block %d: %x, want %x", b, got, want)
		}
		if a.scales[b] != f16At(want) {
			t.Fatalf("block %d: scale %g, want %g", b, a.scales[b], f16At(want))
		}
		q8Corrections(corr, want[2:])
		if !slices.Equal(a.corr[8*b:8*b+8], corr) {
			t.Fatalf("block %d: corrections %v, want %v", b, a.corr[8*b:8*b+8], corr)
		}
	}
	if q := int8(a.data[2*34+2]); q != -16 {
		t.Fatalf("tie block: −15.5 encoded as %d, want −16 (ties away from zero)", q)
	}
}

// TestMatMulConcurrentCallers runs batched products from several goroutines
// at once (sharing the worker pool and the pooled scratch), some on one
// shared set of quantized activations.
func TestMatMulConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(55, 56))
	const n, cols = 11, 288
	m := randomMatrix(t, r, Q4_0, 150, cols)
	x := gaussian(r, n*cols, 1)
	want := make([]float32, n*m.Rows)
	MatMul(want, m, x, n)
	shared := QuantizeActivations(Q4_0, x, n)
	errs := make(chan error, 6)
	for g := range 6 {
		go func() {
			got := make([]float32, n*m.Rows)
			for range 10 {
				if g%2 == 0 {
					MatMul(got, m, x, n)
				} else {
					MatMulQ(got, m, shared)
				}
				if !slices.Equal(got, want) {
					errs <- fmt.Errorf("goroutine %d: results differ", g)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
