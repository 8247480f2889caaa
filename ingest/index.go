package ingest

import "context"

// Index is where the pipeline puts parsed documents. retrieval.Store
// implements it; the pipeline depends only on this.
type Index interface {
	// FindHash reports the ID of a committed document in kb whose content hash is hash.
	FindHash(ctx context.Context, kb, hash string) (docID string, ok bool, err error)
	// PutDocument stores doc and its chunks in every index, atomically
	// replacing any earlier version with the same doc.ID: after a crash at any
	// point, a reopened store holds either the old version or the new one,
	// never a mix. The index sets each chunk's ID, DocID and Seq. progress,
	// when non-nil, is called as chunks are embedded and indexed.
	PutDocument(ctx context.Context, doc Document, chunks []Chunk, progress func(done, total int)) error
	// DeleteDocument removes every trace of a document.
	DeleteDocument(ctx context.Context, kb, docID string) error
}
