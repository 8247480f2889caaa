package retrieval

import (
	"container/heap"
	"context"
	"encoding/gob"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"zhiwen/generation/tensor"
)

// denseRescoreExtra is how many candidates beyond k the quantized scan keeps for
// the exact float32 re-score; denseRescoreFactor multiplies k likewise.
const (
	denseRescoreExtra  = 32
	denseRescoreFactor = 4
)

// candidate is a row and its score, in a min-heap of the best seen so far.
type candidate struct {
	row   int
	score float32
}

type minHeap []candidate

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i].score < h[j].score }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(candidate)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// offer adds c when the heap has room or c beats its worst entry.
func (h *minHeap) offer(c candidate, limit int) {
	if len(*h) < limit {
		heap.Push(h, c)
	} else if c.score > (*h)[0].score {
		(*h)[0] = c
		heap.Fix(h, 0)
	}
}

// SearchVector returns up to k passages by cosine similarity to q, best
// first. q need not be normalized. Filters are applied to every row before
// the best k are chosen.
func (d *Dense) SearchVector(ctx context.Context, q []float32, k int, f Filter) ([]Scored, error) {
	if len(q) != d.dim {
		return nil, fmt.Errorf("dense search: query has %d dimensions, index has %d", len(q), d.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	unit := make([]float32, d.padDim)
	copy(unit, q)
	tensor.NormalizeL2(unit)
	if isZero(unit) {
		return nil, nil // an empty query matches nothing
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dense search: %w", err)
	}

	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	keep := func(r int) bool {
		row := &d.rows[r]
		if !row.live || row.zero {
			return false
		}
		for key, v := range f.Meta {
			if got, ok := row.meta[key]; !ok || got != v {
				return false
			}
		}
		return true
	}
	limit := k*denseRescoreFactor + denseRescoreExtra

	var h minHeap
	if len(f.DocIDs) > 0 {
		// Score only the rows of the requested documents, exactly.
		seen := make(map[int]bool)
		for _, doc := range f.DocIDs {
			for _, r := range d.byDoc[doc] {
				if !seen[r] && keep(r) {
					seen[r] = true
					h.offer(candidate{r, dotFloat32(unit[:d.dim], d.rows[r].vec)}, limit)
				}
			}
		}
	} else if n := len(d.rows); n > 0 {
		scores := getScores(n)
		defer putScores(scores)
		m := &tensor.Matrix{Type: d.scanType, Rows: n, Cols: d.padDim, Data: d.scan[:n*d.rowBytes]}
		tensor.MatVec(scores, m, unit)
		filtered := len(f.Meta) > 0
		for r, s := range scores[:n] {
			if len(h) == limit && s <= h[0].score {
				continue
			}
			row := &d.rows[r]
			if !row.live || row.zero || (filtered && !keep(r)) {
				continue
			}
			h.offer(candidate{r, s}, limit)
		}
		// Exact re-score of the candidates with the float32 vectors.
		for i := range h {
			h[i].score = dotFloat32(unit[:d.dim], d.rows[h[i].row].vec)
		}
	}
	out := []candidate(h)
	sort.Slice(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return out[i].score > out[j].score
		}
		return d.rows[out[i].row].id < d.rows[out[j].row].id
	})
	if len(out) > k {
		out = out[:k]
	}
	res := make([]Scored, len(out))
	for i, c := range out {
		res[i] = Scored{ID: d.rows[c.row].id, Score: float64(c.score)}
	}
	return res, nil
}

// scorePool recycles the per-query score buffers (one float32 per row).
var scorePool sync.Pool

func getScores(n int) []float32 {
	if p, ok := scorePool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n, n+n/8)
}

func putScores(s []float32) { scorePool.Put(&s) }

// dotFloat32 is the dot product of two equal-length float32 vectors.
func dotFloat32(a, b []float32) float32 { return tensor.Dot(a, b) }

// chromemDoc mirrors chromem-go's persisted document for validation.
type chromemDoc struct {
	ID        string
	Metadata  map[string]string
	Embedding []float32
	Content   string
}

// repairChromemDir removes document files that do not decode (written
// halfway when the process died), so chromem-go can load the rest. Those
// passages were never acknowledged to the caller: PutVectors returns only
// after every file is written.
func repairChromemDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		colDir := filepath.Join(dir, e.Name())
		if err := repairCollectionMeta(colDir); err != nil {
			return err
		}
		files, err := os.ReadDir(colDir)
		if err != nil {
			return err
		}
		for _, fe := range files {
			name := fe.Name()
			if fe.IsDir() || !strings.HasSuffix(name, ".gob") || name == chromemMetaSlot+".gob" {
				continue
			}
			path := filepath.Join(colDir, name)
			if decodeErr := decodeChromemDoc(path); decodeErr != nil {
				slog.Warn("removing unreadable dense index file", "file", path, "err", decodeErr)
				if err := os.Remove(path); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// repairCollectionMeta rewrites a collection's metadata file when it is
// missing or torn, recovering the name from the directory (chromem-go names
// it by the collection name's hash).
func repairCollectionMeta(colDir string) error {
	path := filepath.Join(colDir, chromemMetaSlot+".gob")
	if f, err := os.Open(path); err == nil {
		var meta struct {
			Name     string
			Metadata map[string]string
		}
		decErr := gob.NewDecoder(f).Decode(&meta)
		f.Close()
		if decErr == nil && meta.Name != "" {
			return nil
		}
	}
	for i := 0; i < 1024; i++ {
		if chromemSlot(collectionName(i)) != filepath.Base(colDir) {
			continue
		}
		slog.Warn("rewriting unreadable dense collection metadata", "file", path)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		meta := struct {
			Name     string
			Metadata map[string]string
		}{Name: collectionName(i), Metadata: map[string]string{}}
		if err := gob.NewEncoder(f).Encode(meta); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil // not one of ours; chromem-go skips directories without documents
}

func decodeChromemDoc(path string) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode %s: panic: %v", path, r)
		}
	}()
	var doc chromemDoc
	if err := gob.NewDecoder(f).Decode(&doc); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	if doc.ID == "" {
		return fmt.Errorf("decode %s: empty document ID", path)
	}
	for _, x := range doc.Embedding {
		if math.IsInf(float64(x), 0) {
			return fmt.Errorf("decode %s: non-finite vector", path)
		}
	}
	return nil
}
