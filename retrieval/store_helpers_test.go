package retrieval

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"zhiwen/internal/testref"

	bolt "go.etcd.io/bbolt"

	"zhiwen/ingest"
)

// repoRoot walks up from the package directory to the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	return testref.RepoRoot(t)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTestStore(t testing.TB, dir string) *LocalStore {
	t.Helper()
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func mustCreateKB(t testing.TB, s *LocalStore, name string) KBInfo {
	t.Helper()
	info, err := s.CreateKB(context.Background(), KBConfig{Name: name})
	if err != nil {
		t.Fatalf("CreateKB(%q): %v", name, err)
	}
	return info
}

// textChunks makes chunks with contiguous, non-overlapping spans.
func textChunks(texts ...string) []ingest.Chunk {
	out := make([]ingest.Chunk, len(texts))
	pos := 0
	for i, tx := range texts {
		n := len([]rune(tx))
		out[i] = ingest.Chunk{Seq: i, Text: tx, Start: pos, End: pos + n}
		pos += n
	}
	return out
}

func testDoc(kb, id, hash string) ingest.Document {
	return ingest.Document{ID: id, KB: kb, Name: id + ".txt", Format: "text", Hash: hash, Size: 100}
}

func mustPut(t testing.TB, s *LocalStore, doc ingest.Document, chunks []ingest.Chunk) {
	t.Helper()
	if err := s.PutDocument(context.Background(), doc, chunks, nil); err != nil {
		t.Fatalf("PutDocument(%s/%s): %v", doc.KB, doc.ID, err)
	}
}

// indexState is what the two indexes and the metadata hold for a knowledge base.
type indexState struct {
	lexicalIDs, denseIDs, metaIDs []string // of one document, sorted
	lexicalCount, denseCount      int      // whole knowledge base
	metaChunks                    int      // whole knowledge base
	pending, garbage              int
}

// inspect reads the raw index contents for docID. Every chunk text of the
// tests contains probe, so a lexical search for it enumerates the document.
func inspect(t testing.TB, s *LocalStore, kb, docID, probe string) indexState {
	t.Helper()
	ctx := context.Background()
	info, err := s.KB(ctx, kb)
	if err != nil {
		t.Fatalf("KB(%q): %v", kb, err)
	}
	h, err := s.handleByID(info.ID)
	if err != nil {
		t.Fatalf("handle %q: %v", kb, err)
	}
	var st indexState
	f := Filter{DocIDs: []string{docID}}
	lex, err := h.lex.Search(ctx, probe, 100000, f)
	if err != nil {
		t.Fatalf("lexical search: %v", err)
	}
	for _, sc := range lex {
		st.lexicalIDs = append(st.lexicalIDs, sc.ID)
	}
	vec, err := h.emb.EmbedQuery(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	dense, err := h.dense.SearchVector(ctx, vec, 100000, f)
	if err != nil {
		t.Fatalf("dense search: %v", err)
	}
	for _, sc := range dense {
		st.denseIDs = append(st.denseIDs, sc.ID)
	}
	if st.lexicalCount, err = h.lex.Count(); err != nil {
		t.Fatal(err)
	}
	st.denseCount = h.dense.Count()
	if chunks, err := s.Chunks(ctx, kb, docID); err == nil {
		for _, c := range chunks {
			st.metaIDs = append(st.metaIDs, c.ID)
		}
	}
	st.metaChunks = info.Chunks
	p, g := countSpans(t, s, info.ID)
	st.pending, st.garbage = p, g
	sort.Strings(st.lexicalIDs)
	sort.Strings(st.denseIDs)
	sort.Strings(st.metaIDs)
	return st
}

func countSpans(t testing.TB, s *LocalStore, kbID string) (pending, garbage int) {
	t.Helper()
	dirty, err := s.kbDirty(kbID)
	if err != nil {
		t.Fatal(err)
	}
	if !dirty {
		return 0, 0
	}
	// Count precisely only when something is there.
	var ps, gs []chunkSpan
	if err := s.db.View(func(tx *bolt.Tx) error {
		b := kbBucket(tx, kbID)
		var err error
		if ps, err = spans(b.Bucket(bucketPending)); err != nil {
			return err
		}
		gs, err = spans(b.Bucket(bucketGarbage))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return len(ps), len(gs)
}

// checkConsistent asserts that lexical, dense and metadata agree exactly on
// docID's chunks, that the indexes hold nothing beyond the committed chunks,
// and that no write is left pending.
func checkConsistent(t testing.TB, s *LocalStore, kb, docID, probe string) indexState {
	t.Helper()
	st := inspect(t, s, kb, docID, probe)
	if fmt.Sprint(st.lexicalIDs) != fmt.Sprint(st.metaIDs) {
		t.Errorf("lexical IDs of %s differ from metadata:\nlexical %d %v\nmeta    %d %v", docID, len(st.lexicalIDs), short(st.lexicalIDs), len(st.metaIDs), short(st.metaIDs))
	}
	if fmt.Sprint(st.denseIDs) != fmt.Sprint(st.metaIDs) {
		t.Errorf("dense IDs of %s differ from metadata:\ndense %d %v\nmeta  %d %v", docID, len(st.denseIDs), short(st.denseIDs), len(st.metaIDs), short(st.metaIDs))
	}
	if st.lexicalCount != st.metaChunks || st.denseCount != st.metaChunks {
		t.Errorf("index counts lexical=%d dense=%d, committed chunks=%d (orphans)", st.lexicalCount, st.denseCount, st.metaChunks)
	}
	if st.pending != 0 || st.garbage != 0 {
		t.Errorf("pending=%d garbage=%d after recovery", st.pending, st.garbage)
	}
	return st
}

func short(ids []string) string {
	if len(ids) > 6 {
		return strings.Join(ids[:3], ",") + ",…," + strings.Join(ids[len(ids)-3:], ",")
	}
	return strings.Join(ids, ",")
}
