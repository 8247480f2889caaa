package tensor

import (
	"slices"
	"sync"
)

// The decode path: MatVec, MatVecs and MatMul with n = 1. One call is one
// parallel job over the rows of one or more matrices that read the same
// activation row, whatever their weight types: the row is encoded once
// for each activation format the matrices need, and every matrix's rows
// are split among the threads as units of one range (see splitter), so
// that q, k and v (or gate and up) cost one hand-over and one stream per
// thread even where a Q4_K_M file mixes Q5_0 or Q4_K with Q6_K.

// decodeItem is one matrix of a decode call and its output.
type decodeItem struct {
	w   *Matrix
	dst []float32
}

// decodePart is one matrix of a decode job: its weights, its output, the
// job unit at which its units begin, and the kernel and encoded
// activations it reads. A unit is a strip of eight rows for the rows w
// holds in strips (see Interleave), then one row for each of the others.
type decodePart struct {
	w     *Matrix
	dst   []float32
	first int
	units int
	// rb is w's row bytes and ns its number of strips, strip the strip
	// kernel (looked up once per call, not per range).
	rb, ns int
	strip  stripMatVecFunc
	// x is the activation row in the format of w's kernel; mv, when set,
	// is w's decode kernel (Q8_0 activations with side data), else rows
	// is its row kernel.
	x    []byte
	side []int32
	mv   q8MatVecFunc
	rows rowsFunc
}

// run computes the part's units [ua, ub): strips through the strip kernel,
// the rows after them through the decode or row kernel.
func (p *decodePart) run(ua, ub int) {
	ns, rb := p.ns, p.rb
	if ua < ns {
		s1 := min(ub, ns)
		p.strip(p.w.strips[ua*stripRows*rb:s1*stripRows*rb], p.x, p.side, p.w.Cols, p.dst[ua*stripRows:s1*stripRows])
	}
	if ub <= ns {
		return
	}
	// Unit u ≥ ns is row u + 7·ns.
	r0, r1 := max(ua, ns)+(stripRows-1)*ns, ub+(stripRows-1)*ns
	if p.mv != nil {
		p.mv(p.w.Data[r0*rb:r1*rb], rb, p.x, p.side, p.w.Cols, p.dst[r0:r1])
	} else {
		p.rows(p.w.Data[r0*rb:r1*rb], rb, p.x, p.w.Cols, p.dst[r0:r1])
	}
}

// weights returns the weight bytes the part's units [ua, ub) start
// with: those in strips where ua is one, else those of the rows.
func (p *decodePart) weights(ua, ub int) []byte {
	ns, rb := p.ns, p.rb
	if ua < ns {
		return p.w.strips[ua*stripRows*rb : min(ub, ns)*stripRows*rb]
	}
	return p.w.Data[(ua+(stripRows-1)*ns)*rb : (ub+(stripRows-1)*ns)*rb]
}

// unitBytes is the weight bytes of the part's smallest unit.
func (p *decodePart) unitBytes() int {
	if p.ns*stripRows == p.w.Rows {
		return stripRows * p.rb
	}
	return p.rb
}

// encodedRow is one encoding of a decode call's activation row, in
// scratch kept from call to call.
type encodedRow struct {
	t       DType
	data    []byte
	scratch []byte
}

// decodeJob is one decode call, pooled so that steady-state calls do not
// allocate.
type decodeJob struct {
	parts []decodePart
	rows  [4]encodedRow // at most one per activation format
	nrows int
	// The Q8_0 encoding's float scales, VNNI corrections and the decode
	// kernels' side data (see decodeSide).
	scales []float32
	corr   []int32
	side   []int32
	split  splitter
}

var decodeJobs = sync.Pool{New: func() any { return new(decodeJob) }}

// leadBytes is how much of a range's weights lead prefetches: the
// distance the kernels prefetch ahead of their own reads (STRIP_PF), so
// that a range starts as prefetched as the rest of its stream.
const leadBytes = 16 << 10

// lead prefetches the first leadBytes of the weights of units [lo, hi),
// which the kernels' own read-ahead does not cover: a thread calls it
// where it starts reading a new part of memory (see rangeLeader).
func (j *decodeJob) lead(lo, hi int) {
	n := leadBytes
	for i := range j.parts {
		p := &j.parts[i]
		if a, b := max(lo, p.first), min(hi, p.first+p.units); a < b {
			w := p.weights(a-p.first, b-p.first)
			k := min(len(w), n)
			prefetchNTA(w[:k])
			if n -= k; n == 0 {
				return
			}
		}
	}
}

func (j *decodeJob) runRange(lo, hi int) {
	for i := range j.parts {
		p := &j.parts[i]
		if a, b := max(lo, p.first), min(hi, p.first+p.units); a < b {
			p.run(a-p.first, b-p.first)
		}
	}
}

// encode returns x encoded as activations of type at, encoding it on the
// first request for at in this call. Q8_0 goes through the assembly
// quantizer where there is one, which also leaves the float scales and
// corrections the decode kernels' side data is built from (j.side is then
// set); F32 is x's own bytes.
func (j *decodeJob) encode(at DType, x []float32) []byte {
	if at == F32 {
		return float32Bytes(x)
	}
	for i := range j.nrows {
		if j.rows[i].t == at {
			return j.rows[i].data
		}
	}
	e := &j.rows[j.nrows]
	j.nrows++
	n := RowBytes(at, len(x))
	if cap(e.scratch) < n {
		e.scratch = make([]byte, n)
	}
	e.t, e.data = at, e.scratch[:n]
	if at == Q8_0 && quantizeQ8_0Blocks != nil {
		nb := len(x) / QK
		if cap(j.scales) < nb {
			j.scales, j.corr, j.side = make([]float32, nb), make([]int32, 8*nb), make([]int32, 4*nb)
		}
		j.scales, j.corr, j.side = j.scales[:nb], j.corr[:8*nb], j.side[:4*nb]
		quantizeQ8_0Blocks(x, e.data, j.scales, j.corr)
		decodeSide(j.side, j.scales, j.corr)
		return e.data
	}
	quantizeInto(at, e.data, x)
	return e.data
}

// release drops j's references to the call's data and returns it to the
// pool (its scratch buffers stay for the next call).
func (j *decodeJob) release() {
	clear(j.parts)
	j.parts = j.parts[:0]
	for i := range j.nrows {
		j.rows[i].data = nil
	}
	j.nrows = 0
	decodeJobs.Put(j)
}

// shape sets the part's first unit and the fields that follow from its
// matrix's layout (row bytes, strips, units), and returns the bytes of
// its smallest unit.
func (p *decodePart) shape(first int) int {
	w := p.w
	p.first = first
	p.rb, p.ns = RowBytes(w.Type, w.Cols), w.stripRowCount()/stripRows
	p.units = p.ns + w.Rows - p.ns*stripRows
	return p.unitBytes()
}

// layoutParts shapes parts (their matrices set) as the units of one
// decode job, one part after another, and returns the job's units and
// its smallest claim: at least ~32 KiB of weights (see minRowsPerChunk),
// counted in the job's smallest unit.
func layoutParts(parts []decodePart) (units, chunk int) {
	minUnit := 0
	for i := range parts {
		if ub := parts[i].shape(units); minUnit == 0 || ub < minUnit {
			minUnit = ub
		}
		units += parts[i].units
	}
	return units, minRowsPerChunk(minUnit, 1)
}

// matVecs computes items[i].dst = items[i].w·x as one parallel job, then
// reads ahead then's matrices (see MatVecsThen); the callers have checked
// the shapes and types.
func matVecs(items []decodeItem, x []float32, then readAhead) {
	j := decodeJobs.Get().(*decodeJob)
	j.parts = slices.Grow(j.parts[:0], len(items))[:len(items)]
	for i, it := range items {
		j.parts[i].w = it.w
	}
	units, chunk := layoutParts(j.parts)
	for i, it := range items {
		p, w := &j.parts[i], it.w
		at := activationType(w.Type)
		p.dst, p.x = it.dst[:w.Rows], j.encode(at, x)
		// Strips exist only beside a decode kernel, so a part with strips
		// gets the side data here too.
		if mv := activeQ8MatVec[w.Type]; at == Q8_0 && mv != nil && quantizeQ8_0Blocks != nil {
			p.mv, p.side = mv, j.side
		} else {
			p.rows = activeRows[w.Type]
		}
		if p.ns > 0 {
			p.strip = stripFormats[w.Type].kernel
		}
	}
	parallelForThen(&j.split, j, units, chunk, then)
	j.release()
}
