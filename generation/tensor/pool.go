package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
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
	wg    sync.WaitGroup
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
		go func() {
			for s := range p.tasks {
				s.work()
				s.wg.Done()
			}
		}()
	}
}

// parallelFor runs job over [0,n) on up to Threads() threads (the caller
// and pool workers) in chunks of at least minChunk, returning when all are
// done. s is caller-owned scratch, so that steady-state calls do not
// allocate.
func parallelFor(s *splitter, job rangeJob, n, minChunk int) {
	th := Threads()
	chunks := min(4*th, n/max(1, minChunk))
	if th <= 1 || chunks <= 1 {
		job.runRange(0, n)
		return
	}
	helpers := min(th, chunks) - 1
	s.job, s.n, s.chunk = job, n, (n+chunks-1)/chunks
	s.next.Store(0)
	pool.ensure(helpers)
	s.wg.Add(helpers)
	for range helpers {
		pool.tasks <- s
	}
	s.work()
	s.wg.Wait()
	s.job = nil
}
