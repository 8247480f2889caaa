package tensor

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// within reports whether b lies inside one of the buffers.
func within(b []byte, bufs [][]byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, c := range bufs {
		q := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
		if p >= q && p+uintptr(len(b)) <= q+uintptr(len(c)) {
			return true
		}
	}
	return false
}

// TestReadAheadRanges checks what a read-ahead reads for a layer's q, k
// and v on two threads: the start of the helper's share (segment 1 of the
// split the product will use), then the start of the caller's, each at
// most aheadBytes, all inside the matrices' decode bytes; on one thread,
// the product's start.
func TestReadAheadRanges(t *testing.T) {
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(11, 12))
	for _, interleave := range []bool{false, true} {
		var ws []*Matrix
		var bufs [][]byte
		for _, rows := range []int{896, 128, 128} {
			m := randomMatrix(t, r, Q8_0, rows, 896)
			if interleave {
				m.Interleave(nil)
			}
			ws = append(ws, m)
			bufs = append(bufs, m.DecodeBytes()...)
		}
		ra := readAhead{n: len(ws)}
		copy(ra.ws[:], ws)
		var parts [3]decodePart
		for i, w := range ws {
			parts[i].w = w
		}
		units, chunk := layoutParts(parts[:])
		for _, th := range []int{1, 2} {
			SetThreads(th)
			got := ra.ranges(nil)
			if len(got) == 0 {
				t.Fatalf("interleaved %v, %d threads: nothing to read", interleave, th)
			}
			np := splitParts(units, chunk)
			if np != th {
				t.Fatalf("interleaved %v: the product splits %d ways on %d threads", interleave, np, th)
			}
			// The first range starts where the first segment read starts.
			seg := 0
			if th == 2 {
				seg = 1
			}
			lo := seg * units / np
			var first []byte
			for i := range parts {
				p := &parts[i]
				if lo >= p.first && lo < p.first+p.units {
					first = p.weights(lo-p.first, p.units)
					break
				}
			}
			if &got[0][0] != &first[0] {
				t.Fatalf("interleaved %v, %d threads: the read-ahead starts elsewhere than segment %d", interleave, th, seg)
			}
			total := 0
			for _, b := range got {
				if !within(b, bufs) {
					t.Fatalf("interleaved %v, %d threads: a range of %d bytes outside the weights", interleave, th, len(b))
				}
				total += len(b)
			}
			if total > np*aheadBytes || total < min(aheadBytes, len(first)) {
				t.Fatalf("interleaved %v, %d threads: %d bytes read ahead", interleave, th, total)
			}
		}
	}
}

// TestReadAheadEnds checks that MatVecsThen's results do not depend on
// the read-ahead, that a later call stops it and CancelPrefetch waits for
// it (its caller may free the weights then), and that DropInterleaved
// ends one reading the copy it frees.
func TestReadAheadEnds(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	r := rand.New(rand.NewPCG(13, 14))
	big := randomMatrix(t, r, Q8_0, 4096, 2048) // 8.5 MB: longer than any call here
	big.Interleave(nil)
	small := randomMatrix(t, r, Q4_0, 64, 256)
	wide := randomMatrix(t, r, Q4_0, 256, 2048) // enough rows for two threads
	x, xw := gaussian(r, 256, 1), gaussian(r, 2048, 1)
	want, got := make([]float32, 64), make([]float32, 64)
	wantW, gotW := make([]float32, 256), make([]float32, 256)
	MatVec(want, small, x)
	MatVec(wantW, wide, xw)
	for i := range 50 {
		// A call on one thread (posts the read-ahead to the idle worker)
		// or on two (the helper reads ahead once done with its share).
		if i%2 == 0 {
			MatVecsThen([][]float32{got}, []*Matrix{small}, x, big)
		} else {
			MatVecsThen([][]float32{gotW}, []*Matrix{wide}, xw, big)
		}
		MatVec(got, small, x) // stops the read-ahead
		MatVec(gotW, wide, xw)
		CancelPrefetch()
		if n := readAheads.running.Load(); n != 0 {
			t.Fatalf("round %d: %d read-aheads still running after CancelPrefetch", i, n)
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("round %d: row %d = %v after a read-ahead, %v without", i, k, got[k], want[k])
			}
		}
		for k := range wantW {
			if gotW[k] != wantW[k] {
				t.Fatalf("round %d: wide row %d = %v after a read-ahead, %v without", i, k, gotW[k], wantW[k])
			}
		}
	}
	MatVecsThen([][]float32{gotW}, []*Matrix{wide}, xw, big)
	big.DropInterleaved() // cancels the read-ahead before freeing the copy
	if n := readAheads.running.Load(); n != 0 {
		t.Fatalf("%d read-aheads running after DropInterleaved", n)
	}
}
