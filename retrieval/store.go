package retrieval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"zhiwen/ingest"
)

// Typed errors returned (wrapped) by Store methods; test with errors.Is.
var (
	// ErrNotFound: the knowledge base, document or chunk does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a knowledge base with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: a name, query or argument is malformed.
	ErrInvalid = errors.New("invalid argument")
	// ErrNoEmbedder: the knowledge base was built with an embedder this store was not given.
	ErrNoEmbedder = errors.New("embedder not configured")
)

// Store is everything above retrieval needs from a search backend: knowledge
// bases, atomic documents and fused search. LocalStore is the embedded
// implementation; a distributed engine can implement the same interface.
type Store interface {
	ingest.Index

	// CreateKB makes an empty knowledge base. Its embedder is fixed from then on.
	CreateKB(ctx context.Context, cfg KBConfig) (KBInfo, error)
	// KBs lists every knowledge base, sorted by name.
	KBs(ctx context.Context) ([]KBInfo, error)
	// KB describes one knowledge base.
	KB(ctx context.Context, name string) (KBInfo, error)
	// RenameKB changes a knowledge base's name; its contents are untouched.
	RenameKB(ctx context.Context, oldName, newName string) error
	// UpdateKB changes the fields of u that are non-nil.
	UpdateKB(ctx context.Context, name string, u KBUpdate) (KBInfo, error)
	// DeleteKB removes a knowledge base, its indexes and all its metadata.
	DeleteKB(ctx context.Context, name string) error

	// Documents lists the committed documents of a knowledge base, sorted by name.
	Documents(ctx context.Context, kb string) ([]DocumentInfo, error)
	// Document describes one committed document.
	Document(ctx context.Context, kb, docID string) (DocumentInfo, error)
	// Chunks returns a document's committed chunks in order.
	Chunks(ctx context.Context, kb, docID string) ([]ingest.Chunk, error)
	// Chunk returns one committed chunk by ID.
	Chunk(ctx context.Context, kb, chunkID string) (ingest.Chunk, error)

	// Search runs a query over one or more knowledge bases.
	Search(ctx context.Context, q Query) ([]Hit, error)

	// Close releases every index and the metadata database.
	Close() error
}

// KBConfig is what a knowledge base is created with.
type KBConfig struct {
	// Name is shown to users: 1–64 runes, no '/', no control characters.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Embedder is the Name() of the embedder for the dense index; empty
	// means the store's default. It cannot change after creation.
	Embedder string `json:"embedder"`
	// DefaultAdapter is the fine-tuned adapter generation uses for this base.
	DefaultAdapter string `json:"default_adapter,omitempty"`
}

// KBUpdate holds the mutable fields of a knowledge base; nil leaves a field as is.
type KBUpdate struct {
	Description    *string
	DefaultAdapter *string
}

// KBInfo describes a knowledge base.
type KBInfo struct {
	KBConfig
	// ID is stable across renames; the indexes live under kb/<ID>.
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	Documents int       `json:"documents"`
	Chunks    int       `json:"chunks"`
}

// DocumentInfo describes a committed document.
type DocumentInfo struct {
	ingest.Document
	// Chunks is the number of chunks of the committed version.
	Chunks int `json:"chunks"`
	// Version counts committed uploads of this document ID, from 1.
	Version int       `json:"version"`
	Updated time.Time `json:"updated"`
}

// Mode selects which indexes a search uses.
type Mode int

const (
	// ModeHybrid fuses lexical and dense results (the default).
	ModeHybrid Mode = iota
	// ModeLexical uses only the BM25 index.
	ModeLexical
	// ModeDense uses only the vector index.
	ModeDense
)

// String names the mode as ParseMode accepts it.
func (m Mode) String() string {
	switch m {
	case ModeHybrid:
		return "hybrid"
	case ModeLexical:
		return "lexical"
	case ModeDense:
		return "dense"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode reads "hybrid", "lexical" or "dense" ("" means hybrid).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "hybrid":
		return ModeHybrid, nil
	case "lexical", "bm25":
		return ModeLexical, nil
	case "dense", "vector":
		return ModeDense, nil
	}
	return 0, fmt.Errorf("search mode %q: %w", s, ErrInvalid)
}

// Weights are the reciprocal-rank-fusion weights of the two indexes.
type Weights struct {
	Lexical float64 `json:"lexical"`
	Dense   float64 `json:"dense"`
}

// Query is one search.
type Query struct {
	// KBs are the knowledge bases to search; results are merged.
	KBs  []string
	Text string
	// K is the number of hits to return (default 5).
	K    int
	Mode Mode
	// Filter is applied inside each index, before truncation.
	Filter Filter
	// Weights override the store's fusion weights when either is non-zero.
	Weights Weights
	// Candidates is the per-index depth before fusion (default max(50, 4K)).
	Candidates int
}

// Hit is one fused search result.
type Hit struct {
	KB      string       `json:"kb"`
	Chunk   ingest.Chunk `json:"chunk"`
	DocName string       `json:"doc_name"`
	// Score is the weighted reciprocal-rank-fusion score.
	Score float64 `json:"score"`
	// LexicalRank and DenseRank are 1-based ranks in each index; 0 = absent.
	LexicalRank  int     `json:"lexical_rank,omitempty"`
	DenseRank    int     `json:"dense_rank,omitempty"`
	LexicalScore float64 `json:"lexical_score,omitempty"`
	DenseScore   float64 `json:"dense_score,omitempty"`
}

// Options configure a LocalStore.
type Options struct {
	// Embedder is the default embedder for new knowledge bases
	// (default NewHashEmbedder(0), the dimension chosen on CMRC).
	Embedder Embedder
	// Embedders are further embedders knowledge bases may name.
	Embedders []Embedder
	// Weights are the default fusion weights (default lexical 1, dense 0.05).
	Weights Weights
	// RRFK is the rank constant k in Σ w/(k + rank) (default 60).
	RRFK float64
	// Logger receives recovery and cleanup messages (default slog.Default()).
	Logger *slog.Logger
	// NoSync skips fsync of the metadata database. Writes stay atomic across
	// a killed process (the kernel keeps written pages) but not across power
	// loss; meant for bulk loads that can be redone, and for tests.
	NoSync bool
}

// defaultWeights are the fusion weights used when Options and Query give
// none. Measured on all of CMRC 2018 dev with the built-in hash embedder and
// k = 60 (docs/BENCHMARKS.md): dense weight 0.05 gives hybrid MRR@10 0.9785
// and R@5 0.9966; 0.1 gives 0.9730 / 0.9953; 0.3 gives 0.9594 / 0.9882. The
// hash embedder never finds a passage BM25 misses, so it only breaks ties;
// a model embedder deserves a larger weight (set it per Query or in Options).
var defaultWeights = Weights{Lexical: 1, Dense: 0.05}

// LocalStore is the embedded Store: bbolt metadata in dir/meta.db, and per
// knowledge base a bleve index in dir/kb/<id>/lexical and a chromem-go
// collection in dir/kb/<id>/dense.
type LocalStore struct {
	dir       string
	db        *bolt.DB
	opts      Options
	log       *slog.Logger
	embedders map[string]Embedder

	mu      sync.Mutex
	handles map[string]*kbHandle // by KB ID
	closed  bool
}

var _ Store = (*LocalStore)(nil)

// Open opens (creating if needed) a store in dir and recovers from any
// interrupted write: pending document versions are rolled back, garbage
// chunks are removed from the indexes and half-deleted knowledge bases are
// finished.
func Open(dir string, opts Options) (*LocalStore, error) {
	if opts.Embedder == nil {
		opts.Embedder = NewHashEmbedder(0)
	}
	if opts.Weights == (Weights{}) {
		opts.Weights = defaultWeights
	}
	if opts.RRFK <= 0 {
		opts.RRFK = 60
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(dir, "kb"), 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: meta.db: %w", dir, err)
	}
	s := &LocalStore{
		dir:       dir,
		db:        db,
		opts:      opts,
		log:       opts.Logger.With("component", "retrieval.store", "dir", dir),
		embedders: map[string]Embedder{},
		handles:   map[string]*kbHandle{},
	}
	for _, e := range append([]Embedder{opts.Embedder}, opts.Embedders...) {
		if e != nil {
			s.embedders[e.Name()] = e
		}
	}
	db.NoSync = opts.NoSync
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: init meta: %w", dir, err)
	}
	if err := s.recover(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: recover: %w", dir, err)
	}
	return s, nil
}

// Embedder returns the store's default embedder, the one new knowledge
// bases use (and what /v1/embeddings serves).
func (s *LocalStore) Embedder() Embedder { return s.opts.Embedder }

// Close releases every index and the metadata database.
func (s *LocalStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	handles := s.handles
	s.handles = map[string]*kbHandle{}
	s.mu.Unlock()
	var errs []error
	for _, h := range handles {
		h.writeMu.Lock()
		h.life.Lock()
		if err := h.closeIndexes(); err != nil {
			errs = append(errs, err)
		}
		h.life.Unlock()
		h.writeMu.Unlock()
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close meta.db: %w", err))
	}
	return errors.Join(errs...)
}

// recover finishes every interrupted operation recorded in the metadata.
func (s *LocalStore) recover(ctx context.Context) error {
	recs, err := s.kbRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Deleting {
			s.log.Info("finishing interrupted knowledge base delete", "kb", r.Name, "id", r.ID)
			if err := s.purgeKB(r.ID); err != nil {
				s.log.Error("finishing knowledge base delete postponed", "kb", r.Name, "err", err)
			}
			continue
		}
		dirty, err := s.kbDirty(r.ID)
		if err != nil {
			return err
		}
		if !dirty {
			continue
		}
		// A knowledge base that cannot be cleaned now (its embedder is not
		// configured, an index will not open) keeps its pending and garbage
		// marks for the next write or Open; searches ignore uncommitted
		// chunks meanwhile, so the rest of the store still opens.
		h, err := s.handleByID(r.ID)
		if err != nil {
			s.log.Error("recovery postponed: cannot open indexes", "kb", r.Name, "err", err)
			continue
		}
		h.writeMu.Lock()
		err = s.recoverKB(ctx, h)
		h.writeMu.Unlock()
		if err != nil {
			s.log.Error("recovery postponed", "kb", r.Name, "err", err)
		}
	}
	return nil
}
