// Package retrieval finds the passages that answer a query: a BM25 lexical
// index (bleve), a dense vector index (chromem-go with a compact in-memory
// matrix), weighted reciprocal rank fusion over both, and the Store that keeps
// knowledge bases, documents and chunks consistent across all of them.
package retrieval

import "context"

// Embedder turns text into vectors for the dense index. A knowledge base is
// bound to the embedder it was built with (by Name), since vectors from
// different embedders are not comparable.
type Embedder interface {
	// Name identifies the embedder and its configuration, e.g. "hash-ngram-512".
	Name() string
	// Dim is the length of every vector it returns.
	Dim() int
	// EmbedDocuments embeds passages for indexing.
	EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error)
	// EmbedQuery embeds a search query (some models prefix queries with an instruction).
	EmbedQuery(ctx context.Context, text string) ([]float32, error)
}

// Passage is one chunk as the indexes see it.
type Passage struct {
	// ID is the chunk ID, unique within a knowledge base.
	ID string
	// DocID is the owning document, used by Filter.DocIDs.
	DocID string
	// Text is the searchable text (the chunk text, headings included).
	Text string
	// Meta is document metadata, matched exactly by Filter.Meta.
	Meta map[string]string
}

// Filter restricts a search inside each index, before the top k are cut,
// so that a filtered search still returns k results when k exist.
type Filter struct {
	// DocIDs, when non-empty, keeps only passages of these documents.
	DocIDs []string
	// Meta keeps only passages whose metadata has every key with exactly the given value.
	Meta map[string]string
}

// Scored is one search result from a single index.
type Scored struct {
	ID    string
	Score float64
}
