package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
)

// Stage names a step of ingesting one document, reported in Progress.
type Stage string

// The stages of the pipeline, in order.
const (
	StageQueued   Stage = "queued"
	StageParsing  Stage = "parsing"
	StageSplit    Stage = "splitting"
	StageIndexing Stage = "indexing"
	StageDone     Stage = "done"
)

// Progress reports how far one document has come.
type Progress struct {
	Stage Stage `json:"stage"`
	// Done and Total count chunks during indexing; both are 0 in other stages.
	Done  int `json:"done"`
	Total int `json:"total"`
}

// Fraction is an overall completion estimate between 0 and 1.
func (p Progress) Fraction() float64 {
	switch p.Stage {
	case StageQueued:
		return 0
	case StageParsing:
		return 0.05
	case StageSplit:
		return 0.15
	case StageIndexing:
		if p.Total == 0 {
			return 0.2
		}
		return 0.2 + 0.8*float64(p.Done)/float64(p.Total)
	case StageDone:
		return 1
	}
	return 0
}

// Result says what ingesting one file did.
type Result struct {
	DocID  string `json:"doc_id"`
	Hash   string `json:"hash"`
	Format string `json:"format"`
	Chunks int    `json:"chunks"`
	// Unchanged is true when identical content was already stored: nothing was written.
	Unchanged bool     `json:"unchanged"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Pipeline parses, splits and indexes files. It is safe for concurrent use.
type Pipeline struct {
	Index  Index
	Limits Limits
	Split  SplitOptions
	Logger *slog.Logger
}

// NewPipeline returns a pipeline with default limits and split options.
func NewPipeline(ix Index) *Pipeline {
	return &Pipeline{Index: ix, Limits: DefaultLimits(), Split: DefaultSplitOptions(), Logger: slog.Default()}
}

// DocumentID is the stable ID of the file called name within a knowledge
// base: a new upload under the same name is a new version of the same
// document. It does not depend on the knowledge base's name, so renaming a
// knowledge base keeps its documents' identities.
func DocumentID(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:8])
}

// DetectFormat names the format Parse would use for a file, or returns the
// typed error (ErrUnsupportedType, ErrEncrypted, ...) Parse would return for
// an unreadable type, without parsing the file.
func DetectFormat(name string, data []byte, lim Limits) (string, error) {
	return detectFormat(name, data, lim)
}

// ContentHash is the hex SHA-256 of a file's bytes.
func ContentHash(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// Options tune one Ingest call.
type Options struct {
	// Meta is document metadata usable in search filters.
	Meta map[string]string
	// Progress, when non-nil, is called as the document moves through the stages.
	Progress func(Progress)
	// Force re-parses and re-indexes even when identical content is already
	// stored (after a parser or chunking change).
	Force bool
}

// Ingest stores one file in knowledge base kb: parse, split, then put every
// chunk into the index as one atomic document. Identical content already in
// the knowledge base is a no-op unless opt.Force is set.
func (p *Pipeline) Ingest(ctx context.Context, kb, name string, data []byte, opt Options) (Result, error) {
	report := func(pr Progress) {
		if opt.Progress != nil {
			opt.Progress(pr)
		}
	}
	if p.Index == nil {
		return Result{}, errors.New("ingest: pipeline has no index")
	}
	docID := DocumentID(name)
	hash := ContentHash(data)
	if !opt.Force {
		if id, ok, err := p.Index.FindHash(ctx, kb, hash); err != nil {
			return Result{}, fmt.Errorf("ingest %s: look up content hash: %w", name, err)
		} else if ok {
			report(Progress{Stage: StageDone})
			return Result{DocID: id, Hash: hash, Unchanged: true}, nil
		}
	}

	report(Progress{Stage: StageParsing})
	parsed, err := Parse(ctx, name, data, p.Limits)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("ingest %s: %w", name, err)
	}

	report(Progress{Stage: StageSplit})
	chunks := Split(parsed, p.Split)
	if len(chunks) == 0 {
		return Result{}, fmt.Errorf("ingest %s: %w: no text to index", name, ErrEmpty)
	}
	doc := Document{
		ID:     docID,
		KB:     kb,
		Name:   name,
		Format: parsed.Format,
		Hash:   hash,
		Size:   int64(len(data)),
		Pages:  parsed.Pages,
		Meta:   opt.Meta,
	}
	report(Progress{Stage: StageIndexing, Total: len(chunks)})
	err = p.Index.PutDocument(ctx, doc, chunks, func(done, total int) {
		report(Progress{Stage: StageIndexing, Done: done, Total: total})
	})
	if err != nil {
		return Result{}, fmt.Errorf("ingest %s: %w", name, err)
	}
	report(Progress{Stage: StageDone, Done: len(chunks), Total: len(chunks)})
	if p.Logger != nil {
		p.Logger.Info("ingested", "kb", kb, "file", name, "format", parsed.Format, "chunks", len(chunks), "bytes", len(data))
	}
	return Result{DocID: docID, Hash: hash, Format: parsed.Format, Chunks: len(chunks), Warnings: parsed.Warnings}, nil
}
