package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many threads (the caller plus pool workers) the
// kernels split rows across; n < 1 restores runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	threads.Store(int32(n))
}

// Threads reports the number of threads the kernels use.
func Threads() int { return int(threads.Load()) }

// rangeJob is work over rows that can be split into ranges.
type rangeJob interface{ runRange(lo, hi int) }

// splitter shares [0,n) out among the threads of one call. Each thread
// owns a contiguous segment, which it takes from the front a claim at a
// time (a share of what is left, see guidedShare), so that its reads form one stream through memory (a decode step's
// matrices are read once, from DRAM, and every new stream costs a ramp-up
// of the hardware prefetcher: 16 interleaved chunks made a 580 KB matrix
// take 26 µs on two threads against 18 µs for two halves). A thread that
// runs out takes claims from the back of the others' segments, so one
// slowed by other load, or a helper that joins late, still does less of
// the work; and a helper that has not joined by the time the caller has
// done everything is shut out of the call rather than waited for.
type splitter struct {
	job rangeJob
	n   int
	// chunk is the smallest claim.
	chunk int
	// segs[k] is thread k's segment, front and back packed in one word
	// (see packSeg) so that owner and thieves claim with one CAS.
	segs []paddedSeg
	// state packs the call's epoch (high 32 bits), whether the caller has
	// closed the call to helpers (closedBit) and how many have joined
	// (the low bits; a helper's segment is its place in that count).
	state atomic.Uint64
	// done counts the helpers that joined a call and have finished, over
	// all calls (a caller waits for it to pass its value at the call's
	// start by the number that joined, which needs no reset).
	done atomic.Int32
}

const (
	closedBit  = 1 << 31
	joinedMask = closedBit - 1
)

// task invites a pool worker to join call epoch of s and then, where
// ahead names matrices, to read them ahead (see MatVecsThen); or, where s
// is nil, only to read ahead.
type task struct {
	s     *splitter
	epoch uint32
	ahead readAhead
}

// paddedSeg keeps each segment's word on a cache line of its own, so
// that owners claiming their chunks do not contend. The word is read and
// claimed with atomic operations; start sets it with a plain store, which
// no thread can see before it joins the call (see start).
type paddedSeg struct {
	v uint64
	_ [56]byte
}

func packSeg(front, back int) uint64 { return uint64(front) | uint64(back)<<32 }

func unpackSeg(v uint64) (front, back int) { return int(uint32(v)), int(v >> 32) }

// start prepares s for job over [0,n) on parts threads, in claims of at
// least chunk. The segments are set with plain stores: the helpers of the
// last call have finished with them (parallelFor waited for them), and
// those of this one join only after parallelFor publishes the call's
// epoch. A locked store per segment would wait for each line to come back
// from the core that claimed on it last, one after another.
func (s *splitter) start(job rangeJob, n, chunk, parts int) {
	s.job, s.n, s.chunk = job, n, chunk
	if cap(s.segs) < parts {
		s.segs = make([]paddedSeg, parts)
	}
	s.segs = s.segs[:parts]
	for k := range parts {
		s.segs[k].v = packSeg(k*n/parts, (k+1)*n/parts)
	}
}

// rangeLeader is a rangeJob that can prepare a thread for a range it is
// about to start reading where its reads so far do not lead into it.
type rangeLeader interface{ lead(lo, hi int) }

// work runs the calling thread's share: segment k from the front, then
// chunks from the back of the other segments until none is left.
func (s *splitter) work(k int) {
	leader, _ := s.job.(rangeLeader)
	own := &s.segs[k].v
	if f, b := unpackSeg(atomic.LoadUint64(own)); leader != nil && f < b {
		leader.lead(f, b)
	}
	for {
		v := atomic.LoadUint64(own)
		f, b := unpackSeg(v)
		if f >= b {
			break
		}
		e := min(b, f+s.take(b-f))
		if atomic.CompareAndSwapUint64(own, v, packSeg(e, b)) {
			s.job.runRange(f, e)
		}
	}
	for i := 1; i < len(s.segs); i++ {
		seg := &s.segs[(k+i)%len(s.segs)].v
		for {
			v := atomic.LoadUint64(seg)
			f, b := unpackSeg(v)
			if f >= b {
				break
			}
			a := max(f, b-s.take(b-f))
			if atomic.CompareAndSwapUint64(seg, v, packSeg(f, a)) {
				if leader != nil {
					leader.lead(a, b)
				}
				s.job.runRange(a, b)
			}
		}
	}
}

// guidedShare sets how much of what is left of a segment one claim
// takes: a quarter, and never less than the splitter's chunk. Claims
// thus start large (few claims) and shrink towards the end of a segment,
// so that the last range any thread runs is small and the threads finish
// close together: with sixteen equal chunks a thread that ran out waited
// on average half a chunk for the other (4.7 µs of a 97 µs gate+up
// product, 95 µs of the output layer's 1.5 ms).
const guidedShare = 4

// take is the size of the next claim on a segment with left indices
// left (≥ 1).
func (s *splitter) take(left int) int { return max(s.chunk, left/guidedShare) }

// join runs a pool worker's part of call epoch of s, unless that call is
// over or closed.
func (s *splitter) join(epoch uint32) {
	for {
		v := s.state.Load()
		if uint32(v>>32) != epoch || v&closedBit != 0 {
			return
		}
		if s.state.CompareAndSwap(v, v+1) {
			s.work(int(v&joinedMask) + 1)
			s.done.Add(1)
			return
		}
	}
}

// workerPool is a set of persistent goroutines that join splitters and
// run read-aheads, each with a mailbox of its own. A hand-over is a few
// writes to one cache line that the idle worker is polling: on this
// project's two-core host every line that moves between the cores costs
// a few hundred nanoseconds, and a channel send moved several (0.6–0.8 µs
// from the send to its return, against a decode product of 8–90 µs).
type workerPool struct {
	// workers is the list of workers, replaced (never changed) as it grows.
	workers atomic.Pointer[[]*poolWorker]
	mu      sync.Mutex // serialises ensure
}

var pool = new(workerPool)

// poolWorker is one worker goroutine and its mailbox.
type poolWorker struct {
	// box is the mailbox's state: the posts so far times boxStep, plus
	// its status (boxEmpty, boxClaimed, boxJob, boxAhead).
	box atomic.Uint64
	// parked is set while the worker sleeps on wake.
	parked atomic.Bool
	// mail is the posted work, written by the producer that claimed the
	// box and read by the worker once it has claimed the box in turn.
	mail task
	wake chan struct{}
	_    [64]byte // keep the next worker's box off this one's lines
}

// Mailbox states (see poolWorker.box).
const (
	boxEmpty   = 0
	boxClaimed = 1 // a producer is writing mail, or the worker reading it
	boxJob     = 2 // mail is a call to join
	boxAhead   = 3 // mail is a read-ahead
	boxStatus  = 3
	boxStep    = 4
)

// ensure starts workers until there are at least n.
func (p *workerPool) ensure(n int) {
	if l := p.workers.Load(); l != nil && len(*l) >= n {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var list []*poolWorker
	if l := p.workers.Load(); l != nil {
		list = *l
	}
	if len(list) >= n {
		return
	}
	list = append([]*poolWorker(nil), list...)
	for len(list) < n {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		list = append(list, w)
		go w.run()
	}
	p.workers.Store(&list)
}

// post hands t to an idle worker from the from-th on (wrapping round) and
// reports which, or −1 where every mailbox is taken. A call (t.s set)
// replaces mail that no worker has picked up yet: a read-ahead, which then
// ends unrun, or a call, whose caller has by then run it alone (a worker
// that is slow to wake would otherwise find a stale call in its box and
// miss every call behind it: a parked worker then missed 40% of a
// 64-token MatMul's calls, which went at single-thread speed).
func (p *workerPool) post(t task, from int) int {
	l := p.workers.Load()
	if l == nil {
		return -1
	}
	list := *l
	for i := range list {
		k := (from + i) % len(list)
		w := list[k]
		st := w.box.Load()
		switch st & boxStatus {
		case boxEmpty:
		case boxJob, boxAhead:
			if t.s == nil {
				continue
			}
		default: // claimed
			continue
		}
		if !w.box.CompareAndSwap(st, st&^boxStatus|boxClaimed) {
			continue
		}
		// running counts a read-ahead from its post: one replaced here
		// will not run.
		if t.ahead.n > 0 {
			readAheads.running.Add(1)
		}
		if w.mail.ahead.n > 0 {
			readAheads.running.Add(-1)
		}
		w.mail = t
		status := uint64(boxJob)
		if t.s == nil {
			status = boxAhead
		}
		w.box.Store(st&^boxStatus + boxStep | status)
		if w.parked.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
		return k
	}
	return -1
}

// workerSpin is how long an idle worker keeps polling its mailbox before
// it parks. A decode step hands over work every few tens of microseconds;
// waking a parked goroutine costs about as much, so a short spin keeps the
// helpers at hand without holding a core when idle.
const workerSpin = 50 * time.Microsecond

// run is the worker's loop: claim the box (a producer may replace posted
// mail until then), take the mail, empty the box, run it.
func (w *poolWorker) run() {
	for {
		st := w.box.Load()
		switch st & boxStatus {
		case boxJob, boxAhead:
			if !w.box.CompareAndSwap(st, st&^boxStatus|boxClaimed) {
				continue
			}
			t := w.mail
			w.mail = task{}
			w.box.Store(st&^boxStatus + boxStep)
			if t.s != nil {
				t.s.join(t.epoch)
			}
			if t.ahead.n > 0 {
				t.ahead.run()
			}
		default:
			w.idle(st)
		}
	}
}

// idle returns once the box has changed from st, polling it for up to
// workerSpin (yielding to other goroutines between polls), then sleeping
// until a producer wakes the worker.
func (w *poolWorker) idle(st uint64) {
	start := time.Now()
	for i := 0; w.box.Load() == st; i++ {
		if i%64 == 63 {
			if time.Since(start) > workerSpin {
				w.parked.Store(true)
				if w.box.Load() == st {
					<-w.wake
				}
				w.parked.Store(false)
				return
			}
			runtime.Gosched()
		}
	}
}

// parallelFor runs job over [0,n) on up to Threads() threads (the caller
// and pool workers) in claims of at least minChunk, returning when all are
// done. s is caller-owned scratch, so that steady-state calls do not
// allocate.
func parallelFor(s *splitter, job rangeJob, n, minChunk int) {
	parallelForThen(s, job, n, minChunk, readAhead{})
}

// parallelForThen is parallelFor, after which a helper reads ahead the
// matrices of ahead (if it names any) as soon as it is done with the
// call, or, where the call runs on one thread, an idle worker.
func parallelForThen(s *splitter, job rangeJob, n, minChunk int, ahead readAhead) {
	// A read-ahead still running gives way to this call, which needs the
	// worker.
	if readAheads.running.Load() != 0 {
		readAheads.cancel.Add(1)
	}
	ahead.epoch = readAheads.cancel.Load()
	parts := splitParts(n, minChunk)
	if parts <= 1 {
		job.runRange(0, n)
		if ahead.n > 0 {
			postReadAhead(ahead)
		}
		return
	}
	helpers := parts - 1
	s.start(job, n, max(1, minChunk), parts)
	epoch := uint32(s.state.Load()>>32) + 1
	base := s.done.Load()
	s.state.Store(uint64(epoch) << 32)
	pool.ensure(helpers)
	for k, w := 0, 0; k < helpers; k++ {
		t := task{s: s, epoch: epoch}
		if k == 0 {
			t.ahead = ahead
		}
		if w = pool.post(t, w); w < 0 {
			break
		}
		w++
	}
	s.work(0)
	// Everything is taken: close the call and wait for those who joined.
	joined := int32(s.state.Or(closedBit) & joinedMask)
	s.wait(base + joined)
	s.job = nil
}

// splitParts is how many threads parallelFor shares [0,n) among in claims
// of at least minChunk: all of them where there are enough claims to go
// round, 1 where the work is not worth a hand-over.
func splitParts(n, minChunk int) int {
	th := Threads()
	chunks := min(8*th, n/max(1, minChunk))
	if th <= 1 || chunks <= 1 {
		return 1
	}
	return min(th, chunks)
}

// waitSpin is how long a caller that has run out of chunks polls for its
// helpers to finish their last ones before it sleeps between polls. That
// wait is at most one chunk's work, typically a few microseconds, while
// sleeping costs tens: a decode step makes some 120 parallel calls.
const waitSpin = 100 * time.Microsecond

// wait returns when the helpers' finished count reaches want: when those
// who joined the current call have finished.
func (s *splitter) wait(want int32) {
	if s.done.Load() == want {
		return
	}
	start := time.Now()
	for i := 1; s.done.Load() != want; i++ {
		if i%64 == 0 {
			if time.Since(start) > waitSpin {
				time.Sleep(10 * time.Microsecond)
			} else {
				runtime.Gosched()
			}
		}
	}
}

// funcJob adapts a per-index function to a rangeJob.
type funcJob struct {
	fn    func(i int)
	split splitter
}

func (j *funcJob) runRange(lo, hi int) {
	for i := lo; i < hi; i++ {
		j.fn(i)
	}
}

var funcJobs = sync.Pool{New: func() any { return new(funcJob) }}

// ParallelFor runs fn(i) for every i in [0,n) on the kernels' threads (the
// caller and the persistent pool workers, Threads() in all), one index at a
// time to whichever thread is free, and returns when all are done. It
// starts no goroutines. fn must not itself call ParallelFor or a parallel
// kernel (MatVec, MatMul, SiLU, …): the pool's workers would wait on each
// other.
func ParallelFor(n int, fn func(i int)) {
	j := funcJobs.Get().(*funcJob)
	j.fn = fn
	parallelFor(&j.split, j, n, 1)
	j.fn = nil
	funcJobs.Put(j)
}
