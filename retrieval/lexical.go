package retrieval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// Field names inside the bleve index.
const (
	lexFieldText = "text"
	lexFieldDoc  = "doc"
	lexFieldMeta = "meta"
	// metaSep joins a metadata key and value into one keyword term.
	metaSep = "\x1f"
	// lexBatchSize bounds the documents per bleve batch (see writeBatch,
	// which it matches so that one write makes one segment).
	lexBatchSize = 2048
	// lexMaxDFRatio: a query term in more than this fraction of the
	// passages (a character such as 的 or 是) is dropped from the query once
	// the index holds lexMinDocsForPruning passages. Such terms carry almost
	// no BM25 weight, but bleve walks their whole posting lists, which made
	// queries over 100k chunks ~10× slower.
	lexMaxDFRatio        = 0.05
	lexMinDocsForPruning = 1000
	// lexKeepRarest terms are kept when pruning would leave none.
	lexKeepRarest = 3
)

// ErrClosed is returned by index operations after Close.
var ErrClosed = errors.New("retrieval: index closed")

// Lexical is a BM25 full-text index over passages, stored on disk with
// bleve's scorch engine. It is safe for concurrent use; searches run while
// Put and Delete write.
type Lexical struct {
	dir string
	// analyzer is the text field's analyzer, read from the index mapping.
	analyzer string
	// keepQuestionWords turns off queryText's removal of interrogative
	// words (for measuring what the removal is worth).
	keepQuestionWords bool
	// maxDFRatio drops query terms found in more than this fraction of
	// the passages (0 keeps all terms); see lexMaxDFRatio.
	maxDFRatio float64
	// mu guards idx against Close while operations run.
	mu  sync.RWMutex
	idx bleve.Index
}

// lexicalMapping is the index mapping: BM25 scoring, passage text through
// the CJK bigram analyzer, and DocID and metadata as exact keywords.
func lexicalMapping(analyzer string) *mapping.IndexMappingImpl {
	text := bleve.NewTextFieldMapping()
	text.Analyzer = analyzer
	text.Store = false
	text.IncludeInAll = false
	text.IncludeTermVectors = false
	text.DocValues = false

	kw := bleve.NewKeywordFieldMapping()
	kw.Analyzer = keyword.Name
	kw.Store = false
	kw.IncludeInAll = false
	kw.IncludeTermVectors = false
	kw.DocValues = false

	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(lexFieldText, text)
	doc.AddFieldMappingsAt(lexFieldDoc, kw)
	doc.AddFieldMappingsAt(lexFieldMeta, kw)

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = analyzer
	m.ScoringModel = index.BM25Scoring
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}

// OpenLexical opens the lexical index in dir, creating it when dir holds none.
func OpenLexical(dir string) (*Lexical, error) {
	return openLexical(dir, AnalyzerName)
}

// openLexical opens or creates an index; analyzer applies only to a new
// index (an existing one keeps the analyzer it was built with).
func openLexical(dir, analyzer string) (*Lexical, error) {
	meta := filepath.Join(dir, "index_meta.json")
	var idx bleve.Index
	if _, err := os.Stat(meta); err == nil {
		idx, err = bleve.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("open lexical index %s: %w", dir, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("create lexical index %s: %w", dir, err)
		}
		// bleve refuses an existing directory; an empty one left by a
		// crash before the index was created is removed first.
		if entries, err := os.ReadDir(dir); err == nil {
			if len(entries) > 0 {
				return nil, fmt.Errorf("create lexical index %s: directory is not empty and holds no index", dir)
			}
			if err := os.Remove(dir); err != nil {
				return nil, fmt.Errorf("create lexical index %s: %w", dir, err)
			}
		}
		idx, err = bleve.New(dir, lexicalMapping(analyzer))
		if err != nil {
			return nil, fmt.Errorf("create lexical index %s: %w", dir, err)
		}
	} else {
		return nil, fmt.Errorf("open lexical index %s: %w", dir, err)
	}
	analyzer = idx.Mapping().AnalyzerNameForPath(lexFieldText)
	if analyzer == "" {
		idx.Close()
		return nil, fmt.Errorf("open lexical index %s: no analyzer for field %q", dir, lexFieldText)
	}
	return &Lexical{dir: dir, analyzer: analyzer, idx: idx, maxDFRatio: lexMaxDFRatio}, nil
}

// lexicalDoc is the document bleve indexes for one passage.
func lexicalDoc(p Passage) map[string]any {
	d := map[string]any{lexFieldText: p.Text, lexFieldDoc: p.DocID}
	if len(p.Meta) > 0 {
		terms := make([]string, 0, len(p.Meta))
		for k, v := range p.Meta {
			terms = append(terms, k+metaSep+v)
		}
		d[lexFieldMeta] = terms
	}
	return d
}

// Put indexes passages, replacing any passage with the same ID.
func (l *Lexical) Put(ctx context.Context, ps []Passage) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.idx == nil {
		return ErrClosed
	}
	for start := 0; start < len(ps); start += lexBatchSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lexical put: %w", err)
		}
		end := min(start+lexBatchSize, len(ps))
		b := l.idx.NewBatch()
		for _, p := range ps[start:end] {
			if p.ID == "" {
				return fmt.Errorf("lexical put: passage of document %q has an empty ID", p.DocID)
			}
			if err := b.Index(p.ID, lexicalDoc(p)); err != nil {
				return fmt.Errorf("lexical put %s: %w", p.ID, err)
			}
		}
		if err := l.idx.Batch(b); err != nil {
			return fmt.Errorf("lexical put batch at %d: %w", start, err)
		}
	}
	return nil
}

// Delete removes passages by ID; IDs not in the index are ignored.
func (l *Lexical) Delete(ctx context.Context, ids []string) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.idx == nil {
		return ErrClosed
	}
	for start := 0; start < len(ids); start += lexBatchSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lexical delete: %w", err)
		}
		end := min(start+lexBatchSize, len(ids))
		b := l.idx.NewBatch()
		for _, id := range ids[start:end] {
			b.Delete(id)
		}
		if err := l.idx.Batch(b); err != nil {
			return fmt.Errorf("lexical delete batch at %d: %w", start, err)
		}
	}
	return nil
}

// filterQuery turns f into bleve clauses that every hit must match.
func filterQuery(f Filter) []query.Query {
	var must []query.Query
	if len(f.DocIDs) > 0 {
		docs := make([]query.Query, len(f.DocIDs))
		for i, id := range f.DocIDs {
			tq := bleve.NewTermQuery(id)
			tq.SetField(lexFieldDoc)
			docs[i] = tq
		}
		must = append(must, bleve.NewDisjunctionQuery(docs...))
	}
	for k, v := range f.Meta {
		tq := bleve.NewTermQuery(k + metaSep + v)
		tq.SetField(lexFieldMeta)
		must = append(must, tq)
	}
	return must
}

// Search returns up to k passages ranked by BM25 for query, best first.
// Filters are part of the bleve query, so a filtered search still returns
// k results when k matching passages exist.
func (l *Lexical) Search(ctx context.Context, q string, k int, f Filter) ([]Scored, error) {
	if k <= 0 {
		return nil, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.idx == nil {
		return nil, ErrClosed
	}
	if !l.keepQuestionWords {
		q = queryText(q)
	}
	terms, err := l.queryTerms(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(terms) == 0 {
		return nil, nil
	}
	clauses := make([]query.Query, len(terms))
	for i, term := range terms {
		tq := bleve.NewTermQuery(term)
		tq.SetField(lexFieldText)
		clauses[i] = tq
	}
	var top query.Query = bleve.NewDisjunctionQuery(clauses...)
	if must := filterQuery(f); len(must) > 0 {
		top = bleve.NewConjunctionQuery(append([]query.Query{top}, must...)...)
	}
	req := bleve.NewSearchRequestOptions(top, k, 0, false)
	res, err := l.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("lexical search: %w", err)
	}
	out := make([]Scored, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = Scored{ID: h.ID, Score: h.Score}
	}
	return out, nil
}

// queryTerms analyzes q into its terms (a term repeated in q is repeated,
// as a match query would weigh it), dropping terms that occur in more than
// maxDFRatio of the passages. Callers hold mu.
func (l *Lexical) queryTerms(ctx context.Context, q string) ([]string, error) {
	an := l.idx.Mapping().AnalyzerNamed(l.analyzer)
	if an == nil {
		return nil, fmt.Errorf("lexical search: analyzer %q is not registered", l.analyzer)
	}
	var terms []string
	for _, tok := range an.Analyze([]byte(q)) {
		terms = append(terms, string(tok.Term))
	}
	if l.maxDFRatio <= 0 || len(terms) == 0 {
		return terms, nil
	}
	adv, err := l.idx.Advanced()
	if err != nil {
		return nil, fmt.Errorf("lexical search: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("lexical search: %w", err)
	}
	defer r.Close()
	n, err := r.DocCount()
	if err != nil {
		return nil, fmt.Errorf("lexical search: %w", err)
	}
	if n < lexMinDocsForPruning {
		return terms, nil
	}
	df := make(map[string]uint64, len(terms))
	for _, t := range terms {
		if _, ok := df[t]; ok {
			continue
		}
		tfr, err := r.TermFieldReader(ctx, []byte(t), lexFieldText, false, false, false)
		if err != nil {
			return nil, fmt.Errorf("lexical search: term %q: %w", t, err)
		}
		df[t] = tfr.Count()
		tfr.Close()
	}
	limit := uint64(l.maxDFRatio * float64(n))
	kept := make([]string, 0, len(terms))
	for _, t := range terms {
		if df[t] <= limit {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		// Only common terms: search with the rarest few.
		uniq := make([]string, 0, len(df))
		for t := range df {
			uniq = append(uniq, t)
		}
		sort.Slice(uniq, func(i, j int) bool {
			if df[uniq[i]] != df[uniq[j]] {
				return df[uniq[i]] < df[uniq[j]]
			}
			return uniq[i] < uniq[j]
		})
		kept = uniq[:min(lexKeepRarest, len(uniq))]
	}
	return kept, nil
}

// Count returns the number of passages in the index.
func (l *Lexical) Count() (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.idx == nil {
		return 0, ErrClosed
	}
	n, err := l.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("lexical count: %w", err)
	}
	return int(n), nil
}

// Close flushes and closes the index; later calls return ErrClosed.
func (l *Lexical) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idx == nil {
		return nil
	}
	err := l.idx.Close()
	l.idx = nil
	if err != nil {
		return fmt.Errorf("close lexical index %s: %w", l.dir, err)
	}
	return nil
}
