package retrieval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"zhiwen/ingest"
)

// writeBatch is how many passages go to both indexes at a time (and between
// progress reports). Larger batches make fewer bleve segments to build and
// merge: on 2 MB Chinese documents (1,188 chunks) 2048 ingests 2.25–2.32
// MB/s against 2.04–2.07 at 1024 in the same minutes, for a peak RSS of
// 410–455 MB against ~365 (docs/BENCHMARKS.md; 512 and 256 were slower
// still). Passages are at most one chunk budget long, so a batch's memory
// is bounded.
var writeBatch = 2048

// testHook is called at the crash points of the write protocol (tests kill
// the process there). point names the step; n counts passages where useful.
var testHook = func(point string, n int) {}

// passageText is what the indexes search: the chunk text, preceded by its
// heading path when the text does not already start with the innermost heading.
func passageText(c ingest.Chunk) string {
	if len(c.Headings) == 0 || strings.HasPrefix(strings.TrimSpace(c.Text), c.Headings[len(c.Headings)-1]) {
		return c.Text
	}
	return strings.Join(c.Headings, " / ") + "\n" + c.Text
}

// contentFingerprint digests what a put would store besides the IDs: the
// document's hash, name and metadata and every chunk's text, page, headings and span.
func contentFingerprint(doc ingest.Document, chunks []ingest.Chunk) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %d\n", doc.Hash, doc.Name, len(doc.Meta))
	keys := make([]string, 0, len(doc.Meta))
	for k := range doc.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\n", k, doc.Meta[k])
	}
	for _, c := range chunks {
		fmt.Fprintf(h, "%d %d %d %q %q\n", c.Page, c.Start, c.End, c.Headings, c.Text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FindHash reports the committed document of kb whose content hash is hash.
func (s *LocalStore) FindHash(ctx context.Context, kb, hash string) (string, bool, error) {
	var docID string
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := lookupKB(tx, kb)
		if err != nil {
			return err
		}
		b := kbBucket(tx, r.ID)
		prefix := []byte(hash + "\x00")
		c := b.Bucket(bucketHashes).Cursor()
		if k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			docID, found = string(k[len(prefix):]), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("find hash in %q: %w", kb, err)
	}
	return docID, found, nil
}

// PutDocument stores doc with its chunks in both indexes, atomically
// replacing an earlier version with the same doc.ID in doc.KB. The store
// assigns each chunk's ID (<docID>:<generation>:<seq>), DocID and Seq.
// A put whose file hash, name, metadata and chunks all equal the committed
// version's is a no-op; the same file split differently (a re-ingest after
// the splitter changed) is stored as a new version.
//
// Protocol: (1) record the new generation as pending; (2) write its chunks
// to the lexical and dense indexes; (3) in one transaction commit the chunk
// metadata and document record, move the old generation to garbage and
// clear the pending mark; (4) delete the garbage from both indexes. A crash
// before (3) is rolled back on Open, a crash after it is rolled forward, and
// Search only returns chunks committed in the metadata.
func (s *LocalStore) PutDocument(ctx context.Context, doc ingest.Document, chunks []ingest.Chunk, progress func(done, total int)) error {
	if doc.ID == "" {
		return fmt.Errorf("put document %q: empty document ID: %w", doc.Name, ErrInvalid)
	}
	h, rec, release, err := s.acquireWrite(doc.KB)
	if err != nil {
		return fmt.Errorf("put document %q: %w", doc.Name, err)
	}
	defer release()
	if h.dense == nil {
		return fmt.Errorf("put document %q: %w", doc.Name, h.embErr)
	}
	// A version left pending by an earlier failed rollback is undone first.
	if err := s.recoverKB(ctx, h); err != nil {
		return fmt.Errorf("put document %q: %w", doc.Name, err)
	}

	fingerprint := contentFingerprint(doc, chunks)
	var old docRecord
	var hasOld bool
	var span chunkSpan
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := kbBucket(tx, rec.ID)
		var err error
		if old, hasOld, err = getDocRecord(b, doc.ID); err != nil {
			return err
		}
		if hasOld && doc.Hash != "" && old.Doc.Hash == doc.Hash && old.Fingerprint == fingerprint {
			return nil
		}
		gen, err := b.NextSequence()
		if err != nil {
			return err
		}
		span = chunkSpan{DocID: doc.ID, Gen: gen, N: len(chunks)}
		return putJSON(b.Bucket(bucketPending), []byte(doc.ID), span)
	})
	if err != nil {
		return fmt.Errorf("put document %q: record intent: %w", doc.Name, err)
	}
	if span.Gen == 0 {
		s.log.Debug("document unchanged", "kb", doc.KB, "doc", doc.ID, "hash", doc.Hash)
		if progress != nil {
			progress(len(chunks), len(chunks))
		}
		return nil
	}
	testHook("intent", 0)

	doc.KB = rec.Name
	stored := make([]ingest.Chunk, len(chunks))
	passages := make([]Passage, len(chunks))
	for i, c := range chunks {
		c.ID = chunkID(doc.ID, span.Gen, i)
		c.DocID = doc.ID
		c.Seq = i
		stored[i] = c
		passages[i] = Passage{ID: c.ID, DocID: doc.ID, Text: passageText(c), Meta: doc.Meta}
	}
	if err := s.writePassages(ctx, h, passages, progress); err != nil {
		if rerr := s.rollback(context.WithoutCancel(ctx), h, rec.ID, span); rerr != nil {
			s.log.Error("rollback of failed document put", "kb", doc.KB, "doc", doc.ID, "err", rerr)
		}
		return fmt.Errorf("put document %q: %w", doc.Name, err)
	}

	err = s.db.Update(func(tx *bolt.Tx) error {
		b := kbBucket(tx, rec.ID)
		chunksB := b.Bucket(bucketChunks)
		version := 1
		if hasOld {
			version = old.Version + 1
			oldSpan := chunkSpan{DocID: doc.ID, Gen: old.Gen, N: old.Chunks}
			if err := putJSON(b.Bucket(bucketGarbage), oldSpan.key(), oldSpan); err != nil {
				return err
			}
			for _, id := range oldSpan.ids() {
				if err := chunksB.Delete([]byte(id)); err != nil {
					return err
				}
			}
			if err := b.Bucket(bucketHashes).Delete(hashKey(old.Doc.Hash, doc.ID)); err != nil {
				return err
			}
		}
		for _, c := range stored {
			if err := putJSON(chunksB, []byte(c.ID), c); err != nil {
				return err
			}
		}
		if doc.Hash != "" {
			if err := b.Bucket(bucketHashes).Put(hashKey(doc.Hash, doc.ID), nil); err != nil {
				return err
			}
		}
		dr := docRecord{Doc: doc, Version: version, Gen: span.Gen, Chunks: len(stored), Fingerprint: fingerprint, Updated: time.Now().UTC()}
		if err := putJSON(b.Bucket(bucketDocs), []byte(doc.ID), dr); err != nil {
			return err
		}
		return b.Bucket(bucketPending).Delete([]byte(doc.ID))
	})
	if err != nil {
		if rerr := s.rollback(context.WithoutCancel(ctx), h, rec.ID, span); rerr != nil {
			s.log.Error("rollback of failed document commit", "kb", doc.KB, "doc", doc.ID, "err", rerr)
		}
		return fmt.Errorf("put document %q: commit: %w", doc.Name, err)
	}
	testHook("committed", 0)
	if err := s.collectGarbage(context.WithoutCancel(ctx), h, rec.ID); err != nil {
		// The new version is committed; leftovers are retried on the next write or Open.
		s.log.Warn("removing replaced chunks", "kb", doc.KB, "doc", doc.ID, "err", err)
	}
	s.log.Info("stored document", "kb", doc.KB, "doc", doc.ID, "name", doc.Name, "chunks", len(stored), "replaced", hasOld)
	return nil
}

// writePassages writes passages to the lexical and the dense index, batch by batch.
func (s *LocalStore) writePassages(ctx context.Context, h *kbHandle, ps []Passage, progress func(done, total int)) error {
	for start := 0; start < len(ps); start += writeBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := ps[start:min(start+writeBatch, len(ps))]
		// The two indexes are independent: write them on two cores at once.
		denseErr := make(chan error, 1)
		go func() { denseErr <- h.dense.Put(ctx, batch) }()
		lexErr := h.lex.Put(ctx, batch)
		if lexErr == nil {
			testHook("lexical", start+len(batch))
		}
		if err := <-denseErr; err != nil {
			return err
		}
		if lexErr != nil {
			return lexErr
		}
		testHook("dense", start+len(batch))
		if progress != nil {
			progress(start+len(batch), len(ps))
		}
	}
	return nil
}

// deleteFromIndexes removes chunk IDs from both indexes.
func deleteFromIndexes(ctx context.Context, h *kbHandle, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := h.lex.Delete(ctx, ids); err != nil {
		return err
	}
	testHook("delete-lexical", len(ids))
	if h.dense == nil {
		return h.embErr
	}
	return h.dense.Delete(ctx, ids)
}

// rollback removes an uncommitted generation from the indexes, then its pending mark.
func (s *LocalStore) rollback(ctx context.Context, h *kbHandle, kbID string, span chunkSpan) error {
	if err := deleteFromIndexes(ctx, h, span.ids()); err != nil {
		return fmt.Errorf("roll back %s: %w", span.key(), err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		p := kbBucket(tx, kbID).Bucket(bucketPending)
		var cur chunkSpan
		ok, err := getJSON(p, []byte(span.DocID), &cur)
		if err != nil || !ok || cur.Gen != span.Gen {
			return err
		}
		return p.Delete([]byte(span.DocID))
	})
}

// collectGarbage deletes every garbage span from both indexes, then from the metadata.
func (s *LocalStore) collectGarbage(ctx context.Context, h *kbHandle, kbID string) error {
	var garbage []chunkSpan
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		garbage, err = spans(kbBucket(tx, kbID).Bucket(bucketGarbage))
		return err
	})
	if err != nil {
		return err
	}
	for _, sp := range garbage {
		if err := deleteFromIndexes(ctx, h, sp.ids()); err != nil {
			return fmt.Errorf("remove garbage %s: %w", sp.key(), err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			return kbBucket(tx, kbID).Bucket(bucketGarbage).Delete(sp.key())
		}); err != nil {
			return fmt.Errorf("clear garbage %s: %w", sp.key(), err)
		}
	}
	return nil
}

// recoverKB rolls back pending generations and collects garbage. The
// caller holds h.writeMu.
func (s *LocalStore) recoverKB(ctx context.Context, h *kbHandle) error {
	var pending []chunkSpan
	err := s.db.View(func(tx *bolt.Tx) error {
		b := kbBucket(tx, h.id)
		if b == nil {
			return fmt.Errorf("knowledge base id %s: %w", h.id, ErrNotFound)
		}
		var err error
		pending, err = spans(b.Bucket(bucketPending))
		return err
	})
	if err != nil {
		return err
	}
	for _, sp := range pending {
		s.log.Info("rolling back interrupted document write", "kb_id", h.id, "doc", sp.DocID, "gen", sp.Gen, "chunks", sp.N)
		if err := s.rollback(ctx, h, h.id, sp); err != nil {
			return err
		}
	}
	return s.collectGarbage(ctx, h, h.id)
}

// DeleteDocument removes a document: its record, chunks and hash go to
// garbage in one transaction, then its chunks leave both indexes.
func (s *LocalStore) DeleteDocument(ctx context.Context, kb, docID string) error {
	h, rec, release, err := s.acquireWrite(kb)
	if err != nil {
		return fmt.Errorf("delete document %q: %w", docID, err)
	}
	defer release()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := kbBucket(tx, rec.ID)
		old, ok, err := getDocRecord(b, docID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("document %q in %q: %w", docID, kb, ErrNotFound)
		}
		sp := chunkSpan{DocID: docID, Gen: old.Gen, N: old.Chunks}
		if err := putJSON(b.Bucket(bucketGarbage), sp.key(), sp); err != nil {
			return err
		}
		for _, id := range sp.ids() {
			if err := b.Bucket(bucketChunks).Delete([]byte(id)); err != nil {
				return err
			}
		}
		if err := b.Bucket(bucketHashes).Delete(hashKey(old.Doc.Hash, docID)); err != nil {
			return err
		}
		return b.Bucket(bucketDocs).Delete([]byte(docID))
	})
	if err != nil {
		return fmt.Errorf("delete document: %w", err)
	}
	testHook("delete-committed", 0)
	if err := s.collectGarbage(context.WithoutCancel(ctx), h, rec.ID); err != nil {
		s.log.Warn("removing deleted chunks", "kb", kb, "doc", docID, "err", err)
	}
	s.log.Info("deleted document", "kb", kb, "doc", docID)
	return nil
}

func docInfo(r docRecord, kbName string) DocumentInfo {
	r.Doc.KB = kbName
	return DocumentInfo{Document: r.Doc, Chunks: r.Chunks, Version: r.Version, Updated: r.Updated}
}

// Documents lists the committed documents of kb, sorted by name then ID.
func (s *LocalStore) Documents(ctx context.Context, kb string) ([]DocumentInfo, error) {
	out := []DocumentInfo{}
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := lookupKB(tx, kb)
		if err != nil {
			return err
		}
		return kbBucket(tx, rec.ID).Bucket(bucketDocs).ForEach(func(k, v []byte) error {
			var r docRecord
			if _, err := getJSON(kbBucket(tx, rec.ID).Bucket(bucketDocs), k, &r); err != nil {
				return err
			}
			out = append(out, docInfo(r, rec.Name))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list documents of %q: %w", kb, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Document describes one committed document.
func (s *LocalStore) Document(ctx context.Context, kb, docID string) (DocumentInfo, error) {
	var info DocumentInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := lookupKB(tx, kb)
		if err != nil {
			return err
		}
		r, ok, err := getDocRecord(kbBucket(tx, rec.ID), docID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("document %q in %q: %w", docID, kb, ErrNotFound)
		}
		info = docInfo(r, rec.Name)
		return nil
	})
	return info, err
}

// Chunks returns the committed chunks of a document in order.
func (s *LocalStore) Chunks(ctx context.Context, kb, docID string) ([]ingest.Chunk, error) {
	var out []ingest.Chunk
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := lookupKB(tx, kb)
		if err != nil {
			return err
		}
		b := kbBucket(tx, rec.ID)
		r, ok, err := getDocRecord(b, docID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("document %q in %q: %w", docID, kb, ErrNotFound)
		}
		sp := chunkSpan{DocID: docID, Gen: r.Gen, N: r.Chunks}
		out = make([]ingest.Chunk, 0, sp.N)
		for _, id := range sp.ids() {
			var c ingest.Chunk
			ok, err := getJSON(b.Bucket(bucketChunks), []byte(id), &c)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("document %q in %q: chunk %s missing from metadata", docID, kb, id)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chunks of %q: %w", docID, err)
	}
	return out, nil
}

// Chunk returns one committed chunk.
func (s *LocalStore) Chunk(ctx context.Context, kb, id string) (ingest.Chunk, error) {
	var c ingest.Chunk
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := lookupKB(tx, kb)
		if err != nil {
			return err
		}
		ok, err := getJSON(kbBucket(tx, rec.ID).Bucket(bucketChunks), []byte(id), &c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("chunk %q in %q: %w", id, kb, ErrNotFound)
		}
		return nil
	})
	return c, err
}
