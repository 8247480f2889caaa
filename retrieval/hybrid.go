package retrieval

import (
	"context"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"zhiwen/ingest"
)

// fused is one chunk after reciprocal rank fusion of the per-index lists.
type fused struct {
	ID                       string
	Score                    float64
	LexicalRank, DenseRank   int // 1-based; 0 = not in that list
	LexicalScore, DenseScore float64
}

// fuse combines two ranked lists by weighted reciprocal rank fusion:
// score(d) = Σ_i w_i / (k + rank_i(d)), summed over the lists that hold d.
// The result is sorted by score, ties broken by the better single rank and
// then by ID, so it is deterministic.
func fuse(lexical, dense []Scored, w Weights, k float64) []fused {
	byID := make(map[string]*fused, len(lexical)+len(dense))
	var order []*fused
	get := func(id string) *fused {
		f, ok := byID[id]
		if !ok {
			f = &fused{ID: id}
			byID[id] = f
			order = append(order, f)
		}
		return f
	}
	for i, s := range lexical {
		f := get(s.ID)
		if f.LexicalRank != 0 {
			continue // duplicate ID in one list: keep its best rank
		}
		f.LexicalRank, f.LexicalScore = i+1, s.Score
		f.Score += w.Lexical / (k + float64(i+1))
	}
	for i, s := range dense {
		f := get(s.ID)
		if f.DenseRank != 0 {
			continue
		}
		f.DenseRank, f.DenseScore = i+1, s.Score
		f.Score += w.Dense / (k + float64(i+1))
	}
	out := make([]fused, len(order))
	for i, f := range order {
		out[i] = *f
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if bi, bj := bestRank(out[i].LexicalRank, out[i].DenseRank), bestRank(out[j].LexicalRank, out[j].DenseRank); bi != bj {
			return bi < bj
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// bestRank is the smaller of the present (non-zero) ranks.
func bestRank(a, b int) int {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// dropOverlaps removes near-duplicate passages from hits (sorted best
// first): a hit is dropped when a better-ranked hit already kept comes from
// the same knowledge base and document, is the adjacent chunk (Seq differs
// by one) and their source spans [Start, End) overlap — the splitter's
// overlap window makes such neighbours repeat each other's text.
func dropOverlaps(hits []Hit) []Hit {
	type docKey struct{ kb, doc string }
	kept := make(map[docKey][]ingest.Chunk)
	out := make([]Hit, 0, len(hits))
	for _, h := range hits {
		key := docKey{h.KB, h.Chunk.DocID}
		dup := false
		for _, c := range kept[key] {
			d := c.Seq - h.Chunk.Seq
			if (d == 1 || d == -1) && c.Start < h.Chunk.End && h.Chunk.Start < c.End {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		kept[key] = append(kept[key], h.Chunk)
		out = append(out, h)
	}
	return out
}

// Search runs q over each of its knowledge bases (each searched inside its
// own indexes, filters applied before truncation), fuses the lexical and
// dense rankings per knowledge base by weighted reciprocal rank fusion,
// merges the knowledge bases by fused score, drops overlapping neighbours
// and returns the best q.K hits. Only committed chunks are returned.
func (s *LocalStore) Search(ctx context.Context, q Query) ([]Hit, error) {
	text := strings.TrimSpace(q.Text)
	if text == "" {
		return nil, fmt.Errorf("search: empty query: %w", ErrInvalid)
	}
	if len(q.KBs) == 0 {
		return nil, fmt.Errorf("search: no knowledge base given: %w", ErrInvalid)
	}
	if q.Mode != ModeHybrid && q.Mode != ModeLexical && q.Mode != ModeDense {
		return nil, fmt.Errorf("search: %v: %w", q.Mode, ErrInvalid)
	}
	k := q.K
	if k <= 0 {
		k = 5
	}
	cand := q.Candidates
	if cand <= 0 {
		cand = max(50, 4*k)
	}
	cand = max(cand, k)
	w := q.Weights
	if w == (Weights{}) {
		w = s.opts.Weights
	}
	if w.Lexical < 0 || w.Dense < 0 {
		return nil, fmt.Errorf("search: negative fusion weight: %w", ErrInvalid)
	}
	switch q.Mode {
	case ModeLexical:
		w = Weights{Lexical: 1}
	case ModeDense:
		w = Weights{Dense: 1}
	}
	queryVecs := make(map[string][]float32) // by embedder name
	var all []Hit
	seen := make(map[string]bool)
	for _, name := range q.KBs {
		if seen[name] {
			continue
		}
		seen[name] = true
		hits, err := s.searchKB(ctx, name, text, q.Mode, cand, q.Filter, w, queryVecs)
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", name, err)
		}
		all = append(all, hits...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if ra, rb := bestRank(a.LexicalRank, a.DenseRank), bestRank(b.LexicalRank, b.DenseRank); ra != rb {
			return ra < rb
		}
		if a.KB != b.KB {
			return a.KB < b.KB
		}
		return a.Chunk.ID < b.Chunk.ID
	})
	all = dropOverlaps(all) // never nil
	if len(all) > k {
		all = all[:k]
	}
	return all, nil
}

// searchKB searches one knowledge base and returns its fused, committed hits.
func (s *LocalStore) searchKB(ctx context.Context, name, text string, mode Mode, cand int, f Filter, w Weights, queryVecs map[string][]float32) ([]Hit, error) {
	h, rec, err := s.acquireRead(name)
	if err != nil {
		return nil, err
	}
	defer h.life.RUnlock()
	// Chunks of a version being written or removed are in the indexes but
	// not committed; fetch extra so that dropping them still leaves cand.
	fetch := cand + cand/4 + 8
	var lex, dense []Scored
	if mode != ModeDense {
		if lex, err = h.lex.Search(ctx, text, fetch, f); err != nil {
			return nil, err
		}
	}
	if mode != ModeLexical {
		if h.dense == nil {
			return nil, h.embErr
		}
		vec, ok := queryVecs[h.emb.Name()]
		if !ok {
			if vec, err = h.emb.EmbedQuery(ctx, text); err != nil {
				return nil, fmt.Errorf("embed query with %s: %w", h.emb.Name(), err)
			}
			queryVecs[h.emb.Name()] = vec
		}
		if dense, err = h.dense.SearchVector(ctx, vec, fetch, f); err != nil {
			return nil, err
		}
	}
	chunks := make(map[string]ingest.Chunk, len(lex)+len(dense))
	docNames := make(map[string]string)
	err = s.db.View(func(tx *bolt.Tx) error {
		b := kbBucket(tx, rec.ID)
		if b == nil {
			return fmt.Errorf("knowledge base %q: %w", name, ErrNotFound)
		}
		keep := func(list []Scored) ([]Scored, error) {
			out := list[:0:0]
			for _, sc := range list {
				if len(out) == cand {
					break
				}
				c, seen := chunks[sc.ID]
				if !seen {
					ok, err := getJSON(b.Bucket(bucketChunks), []byte(sc.ID), &c)
					if err != nil {
						return nil, err
					}
					if !ok {
						continue // not committed
					}
					chunks[sc.ID] = c
				}
				if _, ok := docNames[c.DocID]; !ok {
					r, _, err := getDocRecord(b, c.DocID)
					if err != nil {
						return nil, err
					}
					docNames[c.DocID] = r.Doc.Name
				}
				out = append(out, sc)
			}
			return out, nil
		}
		var err error
		if lex, err = keep(lex); err != nil {
			return err
		}
		dense, err = keep(dense)
		return err
	})
	if err != nil {
		return nil, err
	}
	fusedHits := fuse(lex, dense, w, s.opts.RRFK)
	out := make([]Hit, len(fusedHits))
	for i, fh := range fusedHits {
		c := chunks[fh.ID]
		out[i] = Hit{
			KB: rec.Name, Chunk: c, DocName: docNames[c.DocID], Score: fh.Score,
			LexicalRank: fh.LexicalRank, DenseRank: fh.DenseRank,
			LexicalScore: fh.LexicalScore, DenseScore: fh.DenseScore,
		}
	}
	return out, nil
}
