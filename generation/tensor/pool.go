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

// splitter hands out fixed-size chunks of [0,n) to whichever thread asks
// next, so a thread slowed down by other load does less of the work.
type splitter struct {
	job   rangeJob
	n     int
	chunk int
	next  atomic.Int64
	// busy counts the helpers still working; a helper decrements it just
	// before wg.Done, so the caller can spin on it (see wait).
	busy atomic.Int32
	wg   sync.WaitGroup
}

func (s *splitter) work() {
	for {
		lo := int(s.next.Add(int64(s.chunk))) - s.chunk
		if lo >= s.n {
			return
		}
		s.job.runRange(lo, min(s.n, lo+s.chunk))
	}
}

// workerPool is a set of persistent goroutines that join splitters.
type workerPool struct {
	mu      sync.Mutex
	workers int
	tasks   chan *splitter
}

var pool = &workerPool{tasks: make(chan *splitter, 64)}

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
		s := p.next()
		s.work()
		s.busy.Add(-1)
		s.wg.Done()
	}
}

// next returns the next task, polling for up to workerSpin (yielding to
// other goroutines between polls) before blocking.
func (p *workerPool) next() *splitter {
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
// and pool workers) in chunks of at least minChunk, returning when all are
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
	s.job, s.n, s.chunk = job, n, (n+chunks-1)/chunks
	s.next.Store(0)
	pool.ensure(helpers)
	s.busy.Store(int32(helpers))
	s.wg.Add(helpers)
	for range helpers {
		pool.tasks <- s
	}
	s.work()
	s.wait()
	s.job = nil
}

// waitSpin is how long a caller that has run out of chunks polls for its
// helpers to finish their last ones before it blocks. That wait is at most
// one chunk's work, typically tens of microseconds, while blocking and
// being woken again costs about as much: a decode step makes some 170
// parallel calls, so the handover matters.
const waitSpin = 100 * time.Microsecond

// wait returns when every helper of the current call has finished.
func (s *splitter) wait() {
	if s.busy.Load() != 0 {
		start := time.Now()
		for i := 1; s.busy.Load() != 0; i++ {
			if i%64 == 0 {
				if time.Since(start) > waitSpin {
					break
				}
				runtime.Gosched()
			}
		}
	}
	s.wg.Wait()
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
