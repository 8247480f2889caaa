package tensor

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rangeLog records the ranges a splitter hands out and when each starts.
type rangeLog struct {
	mu     sync.Mutex
	seen   []atomic.Int32
	ranges [][2]int
	starts []time.Time
	slow   func(lo int) time.Duration
}

func (l *rangeLog) runRange(lo, hi int) {
	l.mu.Lock()
	l.ranges = append(l.ranges, [2]int{lo, hi})
	l.starts = append(l.starts, time.Now())
	l.mu.Unlock()
	if l.slow != nil {
		time.Sleep(l.slow(lo))
	}
	for i := lo; i < hi; i++ {
		l.seen[i].Add(1)
	}
}

// TestSplitterCoversEachIndexOnce runs parallelFor over many sizes, chunk
// bounds and thread counts: every index is run exactly once, in ranges
// inside [0,n).
func TestSplitterCoversEachIndexOnce(t *testing.T) {
	defer SetThreads(0)
	for _, th := range []int{1, 2, 3, 8} {
		SetThreads(th)
		for _, n := range []int{0, 1, 2, 7, 64, 1000, 4099} {
			for _, minChunk := range []int{1, 3, 100} {
				var s splitter
				l := &rangeLog{seen: make([]atomic.Int32, n)}
				parallelFor(&s, l, n, minChunk)
				for i := range l.seen {
					if c := l.seen[i].Load(); c != 1 {
						t.Fatalf("threads %d, n %d, chunk ≥ %d: index %d run %d times", th, n, minChunk, i, c)
					}
				}
				for _, r := range l.ranges {
					if r[0] < 0 || r[0] > r[1] || r[1] > n || (r[0] == r[1] && n > 0) {
						t.Fatalf("threads %d, n %d: bad range %v", th, n, r)
					}
				}
			}
		}
	}
}

// TestSplitterStealsFromSlowThread stalls the caller in its first chunk:
// the helper must finish its own segment and then take the rest of the
// caller's from the back, while the caller is still stalled.
func TestSplitterStealsFromSlowThread(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	const n, stall = 64, 200 * time.Millisecond
	var s splitter
	l := &rangeLog{seen: make([]atomic.Int32, n), slow: func(lo int) time.Duration {
		if lo == 0 {
			return stall
		}
		return 0
	}}
	parallelFor(&s, l, n, 1)
	var first time.Time
	for i, r := range l.ranges {
		if r[0] == 0 {
			first = l.starts[i]
		}
	}
	stolen := 0
	for i, r := range l.ranges {
		// Ranges of the caller's segment [0, n/2) other than its first
		// chunk that started while the caller was stalled were stolen.
		if r[0] > 0 && r[1] <= n/2 && l.starts[i].Sub(first) < stall/2 {
			stolen++
		}
	}
	if stolen == 0 {
		t.Fatalf("no chunk of the stalled caller's segment was taken by the helper: ranges %v", l.ranges)
	}
	for i := range l.seen {
		if c := l.seen[i].Load(); c != 1 {
			t.Fatalf("index %d run %d times", i, c)
		}
	}
}

// TestSplitterOrder checks the order one thread takes work in when it is
// alone: its own segment front to back in chunks (one stream through
// memory), then the other segment's chunks from the back.
func TestSplitterOrder(t *testing.T) {
	var s splitter
	l := &rangeLog{seen: make([]atomic.Int32, 20)}
	s.start(l, 20, 3, 2)
	s.work(0)
	want := [][2]int{{0, 3}, {3, 6}, {6, 9}, {9, 10}, {17, 20}, {14, 17}, {11, 14}, {10, 11}}
	if len(l.ranges) != len(want) {
		t.Fatalf("ranges %v, want %v", l.ranges, want)
	}
	for i := range want {
		if l.ranges[i] != want[i] {
			t.Fatalf("ranges %v, want %v", l.ranges, want)
		}
	}
}

// TestSplitterClaimsShrink checks the guided claims: a quarter of what is
// left of the segment, never less than the chunk, so that a thread's last
// ranges are small whichever segment they come from.
func TestSplitterClaimsShrink(t *testing.T) {
	var s splitter
	l := &rangeLog{seen: make([]atomic.Int32, 200)}
	s.start(l, 200, 3, 2)
	s.work(0)
	want := [][2]int{
		{0, 25}, {25, 43}, {43, 57}, {57, 67}, {67, 75}, {75, 81}, {81, 85}, {85, 88}, {88, 91}, {91, 94}, {94, 97}, {97, 100},
		{175, 200}, {157, 175}, {143, 157}, {133, 143}, {125, 133}, {119, 125}, {115, 119}, {112, 115}, {109, 112}, {106, 109}, {103, 106}, {100, 103},
	}
	if len(l.ranges) != len(want) {
		t.Fatalf("ranges %v, want %v", l.ranges, want)
	}
	for i := range want {
		if l.ranges[i] != want[i] {
			t.Fatalf("ranges %v, want %v", l.ranges, want)
		}
	}
}

// TestPoolConcurrentCallers makes parallel calls from several goroutines
// at once, with read-aheads posted between them, so that callers compete
// for the workers' mailboxes: every call still runs each index once, and
// no read-ahead is left running.
func TestPoolConcurrentCallers(t *testing.T) {
	defer SetThreads(0)
	SetThreads(3)
	m := &Matrix{Type: F32, Rows: 64, Cols: 64, Data: make([]byte, 64*64*4)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := 1 + (g*7+i)%50
				seen := make([]atomic.Int32, n)
				ParallelFor(n, func(k int) { seen[k].Add(1) })
				for k := range seen {
					if c := seen[k].Load(); c != 1 {
						t.Errorf("goroutine %d call %d: index %d of %d ran %d times", g, i, k, n, c)
						return
					}
				}
				ra := readAhead{n: 1, epoch: readAheads.cancel.Load()}
				ra.ws[0] = m
				postReadAhead(ra)
			}
		}()
	}
	wg.Wait()
	CancelPrefetch()
	if n := readAheads.running.Load(); n != 0 {
		t.Fatalf("%d read-aheads still running", n)
	}
}

// waitParked returns once the first pool worker has parked.
func waitParked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !(*pool.workers.Load())[0].parked.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the idle worker never parked")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPoolWakesParkedWorker lets the workers park, then makes a call whose
// first index waits for its second to start: only a woken worker can run
// that one, since the caller is busy with the first.
func TestPoolWakesParkedWorker(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	ParallelFor(2, func(int) {}) // start the worker
	waitParked(t)
	started := make(chan struct{})
	var helped bool
	ParallelFor(2, func(i int) {
		if i == 1 {
			close(started)
			return
		}
		select {
		case <-started:
			helped = true
		case <-time.After(5 * time.Second):
		}
	})
	if !helped {
		t.Fatal("the parked worker was not woken for the call")
	}
}

// TestPoolCallAfterStaleMail wakes a parked worker with a call its caller
// finishes alone (leaving the invitation in the worker's mailbox), then
// makes a call that needs the worker: the second invitation must replace
// the stale one rather than find the mailbox taken.
func TestPoolCallAfterStaleMail(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	ParallelFor(2, func(int) {}) // start the worker
	for attempt := range 10 {
		waitParked(t)
		ParallelFor(2, func(int) {}) // over before the worker is up
		started := make(chan struct{})
		var helped bool
		ParallelFor(2, func(i int) {
			if i == 1 {
				close(started)
				return
			}
			select {
			case <-started:
				helped = true
			case <-time.After(2 * time.Second):
			}
		})
		if !helped {
			t.Fatalf("attempt %d: the worker missed a call made after a stale one", attempt)
		}
	}
}
