package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
)

func closeTo(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.7g, want %.7g", name, i, got[i], want[i])
		}
	}
}

func TestVectorOps(t *testing.T) {
	a := []float32{1, -2, 3, 0.5, 4, -1, 2, 7, 9}
	b := []float32{2, 1, -1, 4, 0.25, 3, -2, 1, 1}
	if got := Dot(a, b); got != 2-2-3+2+1-3-4+7+9 {
		t.Errorf("Dot = %g, want 9", got)
	}
	y := append([]float32(nil), b...)
	Axpy(2, a, y)
	closeTo(t, "Axpy", y, []float64{4, -3, 5, 5, 8.25, 1, 2, 15, 19}, 0)
	Scale(-0.5, y)
	closeTo(t, "Scale", y, []float64{-2, 1.5, -2.5, -2.5, -4.125, -0.5, -1, -7.5, -9.5}, 0)
	Add(y, a, b)
	closeTo(t, "Add", y, []float64{3, -1, 2, 4.5, 4.25, 2, 0, 8, 10}, 0)
	Mul(y, a, b)
	closeTo(t, "Mul", y, []float64{2, -2, -3, 2, 1, -3, -4, 7, 9}, 0)
	defer func() {
		if recover() == nil {
			t.Error("Dot with mismatched lengths did not panic")
		}
	}()
	Dot(a, b[:3])
}

func TestDotLong(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 15, 16, 33, 64, 100, 1000, 4864} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i] = float32(math.Sin(float64(i)))
			b[i] = float32(math.Cos(float64(3 * i)))
			want += float64(a[i]) * float64(b[i])
		}
		if got := Dot(a, b); math.Abs(float64(got)-want) > 1e-5*float64(n+1) {
			t.Errorf("Dot n=%d = %g, want %g", n, got, want)
		}
	}
}

func TestNorms(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	dst := make([]float32, 4)
	RMSNorm(dst, x, []float32{1, 2, 1, 0.5}, 0)
	r := 1 / math.Sqrt(7.5)
	closeTo(t, "RMSNorm", dst, []float64{r, 4 * r, 3 * r, 2 * r}, 1e-6)
	RMSNorm(dst, x, nil, 1e-5)
	r = 1 / math.Sqrt(7.5+1e-5)
	closeTo(t, "RMSNorm eps", dst, []float64{r, 2 * r, 3 * r, 4 * r}, 1e-6)
	LayerNorm(dst, x, []float32{1, 1, 2, 1}, []float32{0, 1, 0, 0}, 0)
	s := 1 / math.Sqrt(1.25)
	closeTo(t, "LayerNorm", dst, []float64{-1.5 * s, -0.5*s + 1, 2 * 0.5 * s, 1.5 * s}, 1e-6)
}

func TestActivations(t *testing.T) {
	x := []float32{-1000, -3, -1, 0, 0.5, 2, 30}
	s := append([]float32(nil), x...)
	SiLU(s)
	want := make([]float64, len(x))
	for i, v := range x {
		want[i] = float64(v) / (1 + math.Exp(-float64(v)))
	}
	closeTo(t, "SiLU", s, want, 1e-6)

	g := append([]float32(nil), x...)
	GELU(g)
	closeTo(t, "GELU", g, []float64{0, -0.003637392, -0.158808, 0, 0.345714, 1.954598, 30}, 1e-5)
	ge := append([]float32(nil), x...)
	GELUErf(ge)
	closeTo(t, "GELUErf", ge, []float64{0, -0.004049694, -0.1586553, 0, 0.3457312, 1.9544997, 30}, 1e-5)

	p := []float32{1, 2, 3, float32(math.Inf(-1))}
	Softmax(p)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	z := e[0] + e[1] + e[2]
	closeTo(t, "Softmax", p, []float64{e[0] / z, e[1] / z, e[2] / z, 0}, 1e-6)
	masked := []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}
	Softmax(masked)
	closeTo(t, "Softmax all masked", masked, []float64{0, 0}, 0)
	big := []float32{1000, 1000}
	Softmax(big)
	closeTo(t, "Softmax large", big, []float64{0.5, 0.5}, 1e-7)
}

// TestSiLUParallelMatchesSerial checks that a vector long enough to be
// split across threads gets exactly the serial results.
func TestSiLUParallelMatchesSerial(t *testing.T) {
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(9, 9))
	x := gaussian(r, 5000, 4)
	want := make([]float64, len(x))
	for i, v := range x {
		want[i] = float64(v) / (1 + math.Exp(-float64(v)))
	}
	serial := append([]float32(nil), x...)
	SetThreads(1)
	SiLU(serial)
	closeTo(t, "SiLU serial", serial, want, 1e-6)
	for _, th := range []int{2, 3} {
		SetThreads(th)
		got := append([]float32(nil), x...)
		SiLU(got)
		for i := range got {
			if got[i] != serial[i] {
				t.Fatalf("threads %d: SiLU[%d] = %v, serial %v", th, i, got[i], serial[i])
			}
		}
	}
}

func TestExpf(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(x float32) {
		t.Helper()
		got, want := float64(expf(x)), math.Exp(float64(x))
		if want > math.MaxFloat32 {
			if !math.IsInf(got, 1) {
				t.Fatalf("expf(%g) = %g, want +Inf", x, got)
			}
			return
		}
		if want < 1.2e-38 { // subnormal results flush to zero
			if got != 0 && math.Abs(got-want) > 1e-38 {
				t.Fatalf("expf(%g) = %g, want ~%g", x, got, want)
			}
			return
		}
		// 4 ulp of float32 is at most 2^-21 relative.
		if rel := math.Abs(got-want) / want; rel > 4.8e-7 {
			t.Fatalf("expf(%g) = %.9g, want %.9g (relative error %.3g)", x, got, want, rel)
		}
	}
	for _, x := range []float32{0, -0, 1, -1, 0.5, 88, 88.7, 88.72, 89, -87, -87.33, -87.4, -100, 100, 1e-8, -1e-8} {
		check(x)
	}
	for range 200000 {
		check(float32(r.NormFloat64() * 20))
	}
	if v := expf(float32(math.NaN())); v == v {
		t.Fatalf("expf(NaN) = %g", v)
	}
}

func TestSwiGLUMatchesSiLU(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 7, 4095, 4096, 4864 * 3} {
		gate, up := make([]float32, n), make([]float32, n)
		for i := range gate {
			gate[i], up[i] = float32(r.NormFloat64()*4), float32(r.NormFloat64())
		}
		want := append([]float32(nil), gate...)
		SiLU(want)
		for i := range want {
			want[i] *= up[i]
		}
		SwiGLU(gate, up)
		for i := range gate {
			if d := math.Abs(float64(gate[i] - want[i])); d > 1e-6*math.Abs(float64(want[i]))+1e-30 {
				t.Fatalf("n=%d: SwiGLU[%d] = %g, SiLU·up = %g", n, i, gate[i], want[i])
			}
		}
	}
}

func TestParallelForVisitsEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 14, 1000} {
		seen := make([]atomic.Int32, n)
		ParallelFor(n, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, c)
			}
		}
	}
}

// TestSwiGLUKernelMatchesReference holds the active swigluRange (AVX2
// where present) to swigluRef bit for bit, across the clamp boundaries.
func TestSwiGLUKernelMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 8, 9, 4864, 1003} {
		gate, up := make([]float32, n), make([]float32, n)
		for i := range gate {
			switch i % 5 {
			case 0:
				gate[i] = float32(r.NormFloat64() * 100) // beyond the clamp
			default:
				gate[i] = float32(r.NormFloat64() * 3)
			}
			up[i] = float32(r.NormFloat64())
		}
		gate[0], up[0] = 87.5, 1
		if n > 1 {
			gate[1], up[1] = -88.5, 1
		}
		want := append([]float32(nil), gate...)
		swigluRef(want, up)
		got := append([]float32(nil), gate...)
		swigluRange(got, up)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: element %d (gate %g): kernel %g, reference %g", n, i, gate[i], got[i], want[i])
			}
		}
	}
}

// TestWeightedSumMatchesReference holds WeightedSum (AVX2 where present)
// to a float64 sum, and the Go reference to the same, over widths with and
// without a 64- or 8-column remainder, one row and many.
func TestWeightedSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct{ rows, cols, stride int }{
		{1, 64, 64}, {70, 64, 128}, {3, 128, 256}, {9, 72, 80}, {5, 3, 3}, {2048, 64, 128}, {17, 200, 203},
	} {
		m := make([]float32, (c.rows-1)*c.stride+c.cols)
		for i := range m {
			m[i] = float32(r.NormFloat64())
		}
		w := make([]float32, c.rows)
		for i := range w {
			w[i] = r.Float32()
		}
		want := make([]float64, c.cols)
		for j := range want {
			for i := range w {
				want[j] += float64(w[i]) * float64(m[i*c.stride+j])
			}
		}
		got, ref := make([]float32, c.cols), make([]float32, c.cols)
		for j := range got {
			got[j] = float32(j) + 0.5 // overwritten, not added to
		}
		WeightedSum(got, m, c.stride, w)
		weightedSumRef(ref, m, c.stride, w, false)
		// The same sum in two blocks of rows, added onto a start value.
		added := make([]float32, c.cols)
		for j := range added {
			added[j] = 2
		}
		half := c.rows / 2
		WeightedSumAdd(added, m, c.stride, w[:half])
		WeightedSumAdd(added, m[half*c.stride:], c.stride, w[half:])
		for j := range got {
			tol := 1e-6 * float64(c.rows)
			if d := math.Abs(float64(got[j]) - want[j]); d > tol {
				t.Fatalf("%+v: column %d: WeightedSum %g, float64 %g", c, j, got[j], want[j])
			}
			if d := math.Abs(float64(ref[j]) - want[j]); d > tol {
				t.Fatalf("%+v: column %d: reference %g, float64 %g", c, j, ref[j], want[j])
			}
			if d := math.Abs(float64(added[j]) - 2 - want[j]); d > tol+1e-6 {
				t.Fatalf("%+v: column %d: 2 + WeightedSumAdd over two blocks %g, float64 %g", c, j, added[j], 2+want[j])
			}
		}
	}
	zero := []float32{1, 2, 3}
	WeightedSum(zero, nil, 3, nil)
	if zero[0] != 0 || zero[2] != 0 {
		t.Fatalf("WeightedSum of no rows = %v, want zeros", zero)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("WeightedSum with too short a matrix did not panic")
		}
	}()
	WeightedSum(make([]float32, 8), make([]float32, 20), 8, make([]float32, 3))
}

func TestReadBandwidthReadsEverything(t *testing.T) {
	bufs := [][]byte{make([]byte, 1000), nil, make([]byte, 3<<20), make([]byte, 7)}
	if gbs := ReadBandwidth(bufs, 2); !(gbs > 0) || math.IsInf(gbs, 0) {
		t.Fatalf("ReadBandwidth = %v GB/s", gbs)
	}
	if gbs := ReadBandwidth(nil, 1); gbs != 0 {
		t.Fatalf("ReadBandwidth of nothing = %v", gbs)
	}
}

// TestSoftmaxKernelsMatchReference holds Softmax (AVX2 where present)
// to a float64 softmax, and its maximum and exponential passes to their Go
// references, on lengths around the 8-lane width with −Inf entries and
// entries far below the maximum.
func TestSoftmaxKernelsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 7, 8, 9, 100, 2048, 4097} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 8)
			switch i % 11 {
			case 3:
				x[i] = float32(math.Inf(-1))
			case 5:
				x[i] -= 95 // underflows to 0
			}
		}
		if got, want := maxFloat32(x), maxFloat32Ref(x); got != want {
			t.Fatalf("n=%d: max %g, reference %g", n, got, want)
		}
		e1, e2 := append([]float32(nil), x...), append([]float32(nil), x...)
		m := maxFloat32Ref(x)
		s1, s2 := expSub(e1, m), expSubRef(e2, m)
		if math.Abs(s1-s2) > 1e-6*s2 {
			t.Fatalf("n=%d: exp sum %g, reference %g", n, s1, s2)
		}
		for i := range e1 {
			if math.Float32bits(e1[i]) != math.Float32bits(e2[i]) {
				t.Fatalf("n=%d: e^(x[%d]−m) = %g, reference %g", n, i, e1[i], e2[i])
			}
		}
		want := make([]float64, n)
		var sum float64
		for i, v := range x {
			want[i] = math.Exp(float64(v) - float64(m))
			sum += want[i]
		}
		got := append([]float32(nil), x...)
		Softmax(got)
		for i := range got {
			if d := math.Abs(float64(got[i]) - want[i]/sum); d > 1e-6*want[i]/sum+1e-12 {
				t.Fatalf("n=%d: softmax[%d] = %g, want %g", n, i, got[i], want[i]/sum)
			}
		}
	}
	allInf := []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}
	Softmax(allInf)
	if allInf[0] != 0 || allInf[1] != 0 {
		t.Fatalf("softmax of all −Inf = %v", allInf)
	}
}

// TestMapFloat32s checks the mapped buffers: zeroed, of the asked length,
// writable end to end, independent of each other, and empty for n ≤ 0.
func TestMapFloat32s(t *testing.T) {
	type owner struct{ _ int }
	o := &owner{}
	if b, free := MapFloat32s(o, 0); len(b) != 0 {
		t.Fatalf("MapFloat32s(0) has %d elements", len(b))
	} else {
		free()
	}
	a, freeA := MapFloat32s(o, 3<<20+5)
	b, freeB := MapFloat32s(o, 1000)
	if len(a) != 3<<20+5 || len(b) != 1000 {
		t.Fatalf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != 0 {
			t.Fatalf("a[%d] = %g, want 0", i, a[i])
		}
		a[i] = float32(i)
	}
	for i := range b {
		b[i] = -1
	}
	for i := range a {
		if a[i] != float32(i) {
			t.Fatalf("a[%d] = %g after writing both buffers", i, a[i])
		}
	}
	freeA()
	freeB()
	runtime.KeepAlive(o)
}

// TestArgmaxMatchesReference holds Argmax (AVX2 where present) to the plain
// loop: ties, NaNs, infinities, signed zeros, the maximum in the Go tail,
// lengths around the kernel's 32-element steps.
func TestArgmaxMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := [][]float32{nil, {nan}, {nan, 1, 2}, {-inf, -inf}, {0, float32(math.Copysign(0, -1))}}
	for _, n := range []int{1, 31, 32, 33, 64, 100, 151936} {
		x := gaussian(r, n, 3)
		cases = append(cases, x)
		tie := slices.Clone(x)
		tie[n/3], tie[n-1] = 50, 50
		cases = append(cases, tie)
		tail := slices.Clone(x)
		tail[n-1] = 60 // past the last 32-element step when n%32 != 0
		cases = append(cases, tail)
		withNaN := slices.Clone(x)
		for i := range withNaN {
			if i%7 == 3 {
				withNaN[i] = nan
			}
		}
		cases = append(cases, withNaN)
		allNaNButFirst := make([]float32, n)
		for i := range allNaNButFirst {
			allNaNButFirst[i] = nan
		}
		allNaNButFirst[0] = -inf
		cases = append(cases, allNaNButFirst)
		same := make([]float32, n)
		cases = append(cases, same)
	}
	for i, x := range cases {
		want := 0
		if len(x) > 0 {
			want = argmaxRef(x)
		}
		if got := Argmax(x); got != want {
			t.Fatalf("case %d (n=%d): Argmax %d, reference %d", i, len(x), got, want)
		}
	}
}

// TestTileScoresMatchesReference holds TileScores (AVX2 where present) to
// the Go reference (the same fused steps: equal but for a last-bit double
// rounding) and both to a float64 sum, over tile counts with and without
// an eight-tile remainder, several heads and padded strides.
func TestTileScoresMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct{ heads, tiles, dim, tileStride, qStride, dstStride int }{
		{1, 1, 1, 8, 1, 8}, {7, 16, 64, 1024, 64, 160}, {3, 9, 64, 512, 80, 72}, {2, 23, 5, 48, 5, 200}, {1, 8, 128, 1024, 128, 64},
	} {
		keys := make([]float32, (c.tiles-1)*c.tileStride+c.dim*TileWidth)
		for i := range keys {
			keys[i] = float32(r.NormFloat64())
		}
		q := make([]float32, (c.heads-1)*c.qStride+c.dim)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		n := (c.heads-1)*c.dstStride + c.tiles*TileWidth
		got, ref := make([]float32, n), make([]float32, n)
		TileScores(got, c.dstStride, keys, c.tileStride, c.tiles, c.dim, q, c.qStride, c.heads)
		tileScoresRef(ref, c.dstStride, keys, c.tileStride, c.tiles, c.dim, q, c.qStride, c.heads)
		for h := range c.heads {
			for tl := range c.tiles {
				for j := range TileWidth {
					var s float64
					for d := range c.dim {
						s += float64(q[h*c.qStride+d]) * float64(keys[tl*c.tileStride+d*TileWidth+j])
					}
					i := h*c.dstStride + tl*TileWidth + j
					if d := math.Abs(float64(got[i] - ref[i])); d > 1e-6*math.Abs(float64(ref[i]))+1e-6 {
						t.Fatalf("%+v: head %d tile %d key %d: TileScores %g, reference %g", c, h, tl, j, got[i], ref[i])
					}
					if d := math.Abs(float64(got[i]) - s); d > 1e-5*float64(c.dim) {
						t.Fatalf("%+v: head %d tile %d key %d: TileScores %g, float64 sum %g", c, h, tl, j, got[i], s)
					}
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("TileScores with too short a key slice did not panic")
		}
	}()
	TileScores(make([]float32, 16), 8, make([]float32, 63), 64, 1, 8, make([]float32, 8), 8, 1)
}
