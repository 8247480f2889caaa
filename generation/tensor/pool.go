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
	// done counts the helpers that joined and have finished.
	done atomic.Int32
}

const (
	closedBit  = 1 << 31
	joinedMask = closedBit - 1
)

// task invites a pool worker to join call epoch of s.
type task struct {
	s     *splitter
	epoch uint32
}

// paddedSeg keeps each segment's word on a cache line of its own, so
// that owners claiming their chunks do not contend.
type paddedSeg struct {
	v atomic.Uint64
	_ [56]byte
}

func packSeg(front, back int) uint64 { return uint64(front) | uint64(back)<<32 }

func unpackSeg(v uint64) (front, back int) { return int(uint32(v)), int(v >> 32) }

// start prepares s for job over [0,n) on parts threads, in claims of at
// least chunk.
func (s *splitter) start(job rangeJob, n, chunk, parts int) {
	s.job, s.n, s.chunk = job, n, chunk
	if cap(s.segs) < parts {
		s.segs = make([]paddedSeg, parts)
	}
	s.segs = s.segs[:parts]
	for k := range parts {
		s.segs[k].v.Store(packSeg(k*n/parts, (k+1)*n/parts))
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
	if f, b := unpackSeg(own.Load()); leader != nil && f < b {
		leader.lead(f, b)
	}
	for {
		v := own.Load()
		f, b := unpackSeg(v)
		if f >= b {
			break
		}
		e := min(b, f+s.take(b-f))
		if own.CompareAndSwap(v, packSeg(e, b)) {
			s.job.runRange(f, e)
		}
	}
	for i := 1; i < len(s.segs); i++ {
		seg := &s.segs[(k+i)%len(s.segs)].v
		for {
			v := seg.Load()
			f, b := unpackSeg(v)
			if f >= b {
				break
			}
			a := max(f, b-s.take(b-f))
			if seg.CompareAndSwap(v, packSeg(f, a)) {
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

// workerPool is a set of persistent goroutines that join splitters.
type workerPool struct {
	mu      sync.Mutex
	workers int
	tasks   chan task
}

var pool = &workerPool{tasks: make(chan task, 64)}

func (p *workerPool) ensure(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.workers < n {
		p.workers++
		go p.worker()
	}
}

// workerSpin is how long an idle worker keeps polling for the next task
// before it parks. A decode step issues a MatVec every few tens of
// microseconds; waking a parked goroutine costs about as much, so a short
// spin keeps the helpers at hand without holding a core when idle.
const workerSpin = 50 * time.Microsecond

func (p *workerPool) worker() {
	for {
		t := p.next()
		t.s.join(t.epoch)
	}
}

// next returns the next task, polling for up to workerSpin (yielding to
// other goroutines between polls) before blocking.
func (p *workerPool) next() task {
	select {
	case s := <-p.tasks:
		return s
	default:
	}
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case s := <-p.tasks:
			return s
		default:
		}
		if i%64 == 63 {
			if time.Since(start) > workerSpin {
				break
			}
			runtime.Gosched()
		}
	}
	return <-p.tasks
}

// parallelFor runs job over [0,n) on up to Threads() threads (the caller
// and pool workers) in claims of at least minChunk, returning when all are
// done. s is caller-owned scratch, so that steady-state calls do not
// allocate.
func parallelFor(s *splitter, job rangeJob, n, minChunk int) {
	th := Threads()
	chunks := min(8*th, n/max(1, minChunk))
	if th <= 1 || chunks <= 1 {
		job.runRange(0, n)
		return
	}
	helpers := min(th, chunks) - 1
	s.start(job, n, max(1, minChunk), helpers+1)
	epoch := uint32(s.state.Load()>>32) + 1
	s.done.Store(0)
	s.state.Store(uint64(epoch) << 32)
	pool.ensure(helpers)
	for range helpers {
		pool.tasks <- task{s, epoch}
	}
	s.work(0)
	// Everything is taken: close the call and wait for those who joined.
	joined := int32(s.state.Or(closedBit) & joinedMask)
	s.wait(joined)
	s.job = nil
}

// waitSpin is how long a caller that has run out of chunks polls for its
// helpers to finish their last ones before it sleeps between polls. That
// wait is at most one chunk's work, typically a few microseconds, while
// sleeping costs tens: a decode step makes some 120 parallel calls.
const waitSpin = 100 * time.Microsecond

// wait returns when the joined helpers of the current call have finished.
func (s *splitter) wait(joined int32) {
	if s.done.Load() == joined {
		return
	}
	start := time.Now()
	for i := 1; s.done.Load() != joined; i++ {
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
