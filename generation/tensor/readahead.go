package tensor

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Read-ahead between the products of a decode step.
//
// A decode step alternates products, which stream weights from memory,
// with work that reads next to nothing from it: norms, the rotary
// embedding, attention over a short context, the SwiGLU gate. That work
// runs on the calling thread while the pool's worker waits and memory
// sits idle, and the next product then starts cold, paying the latency
// of its first misses on top of its compute. MatVecsThen names the next
// product's matrices: the helper, as soon as it is done with its share of
// the current product, reads the start of each thread's share of them
// into its caches until that product begins, so that both threads start
// on weights already near them. Qwen2.5-0.5B Q4_0 shapes read cold after
// a 20 µs wait: q, k and v 18.0–20.0 µs → 13.8 µs, o 13.7–15.6 → 10.8,
// down 63.7–68.9 → 57.2–58.4.

// maxAhead is the most matrices one read-ahead names: a layer's q, k and
// v (or gate and up) are one product.
const maxAhead = 4

// aheadBytes is how much of one thread's share of the next product a
// read-ahead reads: two shares fit a 1 MiB L2 with room to spare (the
// worker reads its own share first, then the calling thread's, which
// that thread then gets from the worker's cache rather than from DRAM).
const aheadBytes = 384 << 10

// readAhead is one read-ahead: the next product's matrices, and the
// cancellation epoch it was asked for in.
type readAhead struct {
	ws    [maxAhead]*Matrix
	n     int
	epoch uint64
}

// readAheads tracks the read-aheads in flight, so that a kernel call can
// stop them (it needs the worker) and CancelPrefetch wait for them to end
// (its caller may then free the matrices).
var readAheads struct {
	// running counts the read-aheads asked for that have not ended.
	running atomic.Int32
	// cancel is bumped to stop the running ones.
	cancel atomic.Uint64
}

// postReadAhead hands r to an idle worker, if there is one (else the
// hint is dropped).
func postReadAhead(r readAhead) {
	pool.ensure(1)
	pool.post(task{ahead: r}, 0)
}

// CancelPrefetch stops the read-aheads MatVecsThen started and returns
// when none touches memory any longer.
// A cancelled read-ahead stops within aheadCheck bytes.
func CancelPrefetch() {
	if readAheads.running.Load() == 0 {
		return
	}
	readAheads.cancel.Add(1)
	for i := 1; readAheads.running.Load() != 0; i++ {
		if i%64 == 0 {
			runtime.Gosched()
		}
	}
}

// aheadCheck is how many bytes a read-ahead reads between looks at
// whether it has been cancelled.
const aheadCheck = 4 << 10

// run reads ahead on a pool worker, until cancelled.
func (r *readAhead) run() {
	defer readAheads.running.Add(-1)
	var buf [2 * maxAhead][]byte
	for _, b := range r.ranges(buf[:0]) {
		if !r.touch(b) {
			return
		}
	}
}

// ranges appends to dst what a read-ahead reads, in order: the first
// aheadBytes of the share of the product that the first helper will take
// (segment 1 of the split matVecs makes), then of the caller's share
// (segment 0); all of it where the product runs on one thread.
func (r *readAhead) ranges(dst [][]byte) [][]byte {
	var parts [maxAhead]decodePart
	for i, w := range r.ws[:r.n] {
		parts[i].w = w
	}
	units, chunk := layoutParts(parts[:r.n])
	np := splitParts(units, chunk)
	segs := []int{1, 0}
	if np == 1 {
		segs = segs[1:]
	}
	for _, k := range segs {
		lo, hi := k*units/np, (k+1)*units/np
		left := aheadBytes
		for i := range r.ws[:r.n] {
			p := &parts[i]
			a, b := max(lo, p.first), min(hi, p.first+p.units)
			if a >= b || left == 0 {
				continue
			}
			w := p.weights(a-p.first, b-p.first)
			w = w[:min(len(w), left)]
			dst = append(dst, w)
			left -= len(w)
		}
	}
	return dst
}

// aheadSink keeps the compiler from dropping the read-ahead's loads.
var aheadSink atomic.Uint64

// touch loads one word of every cache line of b, looking every
// aheadCheck bytes whether the read-ahead has been cancelled; it reports
// whether it read all of b.
func (r *readAhead) touch(b []byte) bool {
	var s uint64
	p := unsafe.Pointer(unsafe.SliceData(b))
	for i := 0; i+8 <= len(b); i += 64 {
		if i%aheadCheck == 0 && readAheads.cancel.Load() != r.epoch {
			return false
		}
		s += *(*uint64)(unsafe.Add(p, i))
	}
	if s == 1 { // almost never: a store only to keep the loads
		aheadSink.Store(s)
	}
	return true
}
