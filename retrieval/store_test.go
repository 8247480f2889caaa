package retrieval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKBNameValidation(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"财务制度", true},
		{"HR docs 2024", true},
		{strings.Repeat("知", 64), true},
		{strings.Repeat("知", 65), false},
		{"", false},
		{"   ", false},
		{" 前后空格", false},
		{"a/b", false},
		{`a\b`, false},
		{"line\nbreak", false},
		{"nul\x00", false},
		{"bad\xffutf8", false},
	}
	for _, tc := range tests {
		err := ValidateKBName(tc.name)
		if tc.ok && err != nil {
			t.Errorf("ValidateKBName(%q) = %v, want ok", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateKBName(%q) = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestKBLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)

	fin := mustCreateKB(t, s, "财务制度")
	if _, err := s.CreateKB(ctx, KBConfig{Name: "财务制度"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate CreateKB = %v, want ErrExists", err)
	}
	if _, err := s.CreateKB(ctx, KBConfig{Name: "a/b"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CreateKB(a/b) = %v, want ErrInvalid", err)
	}
	if _, err := s.CreateKB(ctx, KBConfig{Name: "x", Embedder: "no-such-model"}); !errors.Is(err, ErrNoEmbedder) {
		t.Fatalf("CreateKB with unknown embedder = %v, want ErrNoEmbedder", err)
	}
	if fin.Embedder != NewHashEmbedder(0).Name() {
		t.Errorf("default embedder = %q", fin.Embedder)
	}
	mustCreateKB(t, s, "HR")
	mustPut(t, s, testDoc("财务制度", "d1", "h1"), textChunks("差旅 住宿 标准 zhiwenprobe", "报销 流程 zhiwenprobe"))

	kbs, err := s.KBs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(kbs) != 2 || kbs[0].Name != "HR" || kbs[1].Name != "财务制度" {
		t.Fatalf("KBs = %+v", kbs)
	}
	if kbs[1].Documents != 1 || kbs[1].Chunks != 2 || kbs[1].Created.IsZero() {
		t.Errorf("KB info = %+v, want 1 document, 2 chunks, created time", kbs[1])
	}

	// Rename keeps the ID, the contents and the index directories.
	if err := s.RenameKB(ctx, "财务制度", "财务制度2024"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameKB(ctx, "财务制度2024", "HR"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto existing = %v, want ErrExists", err)
	}
	if err := s.RenameKB(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename missing = %v, want ErrNotFound", err)
	}
	if err := s.RenameKB(ctx, "HR", "a\tb"); !errors.Is(err, ErrInvalid) {
		t.Errorf("rename to invalid = %v, want ErrInvalid", err)
	}
	if _, err := s.KB(ctx, "财务制度"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old name lookup = %v, want ErrNotFound", err)
	}
	renamed, err := s.KB(ctx, "财务制度2024")
	if err != nil || renamed.ID != fin.ID || renamed.Chunks != 2 {
		t.Fatalf("renamed KB = %+v, %v; want ID %s with 2 chunks", renamed, err, fin.ID)
	}
	hits, err := s.Search(ctx, Query{KBs: []string{"财务制度2024"}, Text: "住宿标准"})
	if err != nil || len(hits) == 0 || hits[0].KB != "财务制度2024" || hits[0].Chunk.Seq != 0 {
		t.Fatalf("search after rename = %+v, %v", hits, err)
	}
	docs, err := s.Documents(ctx, "财务制度2024")
	if err != nil || len(docs) != 1 || docs[0].KB != "财务制度2024" {
		t.Fatalf("documents after rename = %+v, %v", docs, err)
	}

	desc, adapter := "费用制度问答", "finance-lora"
	up, err := s.UpdateKB(ctx, "财务制度2024", KBUpdate{Description: &desc, DefaultAdapter: &adapter})
	if err != nil || up.Description != desc || up.DefaultAdapter != adapter || up.Embedder != fin.Embedder {
		t.Fatalf("UpdateKB = %+v, %v", up, err)
	}

	// Everything survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	got, err := s.KB(ctx, "财务制度2024")
	if err != nil || got.Description != desc || got.ID != fin.ID || got.Documents != 1 {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}

	if err := s.DeleteKB(ctx, "财务制度2024"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKB(ctx, "财务制度2024"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteKB = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(s.kbDir(fin.ID)); !os.IsNotExist(err) {
		t.Errorf("index directory of deleted KB still there: %v", err)
	}
	if _, err := s.Search(ctx, Query{KBs: []string{"财务制度2024"}, Text: "住宿"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("search of deleted KB = %v, want ErrNotFound", err)
	}
	if err := s.PutDocument(ctx, testDoc("财务制度2024", "d9", "h9"), nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("put into deleted KB = %v, want ErrNotFound", err)
	}
	recs, err := s.kbRecords()
	if err != nil || len(recs) != 1 {
		t.Errorf("metadata records after delete = %d (%v), want 1", len(recs), err)
	}
	// The name is free again and the new KB starts empty.
	again := mustCreateKB(t, s, "财务制度2024")
	if again.ID == fin.ID || again.Documents != 0 {
		t.Errorf("recreated KB = %+v", again)
	}
}

func TestPutReplaceDeleteDocument(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "kb")

	v1 := textChunks("苹果 香蕉 第一版 zhiwenprobe", "橙子 葡萄 第一版 zhiwenprobe", "西瓜 第一版 zhiwenprobe")
	var progress []int
	err := s.PutDocument(ctx, testDoc("kb", "doc", "hash1"), v1, func(done, total int) {
		if total != 3 {
			t.Errorf("progress total = %d, want 3", total)
		}
		progress = append(progress, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) == 0 || progress[len(progress)-1] != 3 {
		t.Errorf("progress = %v, want to end at 3", progress)
	}
	mustPut(t, s, testDoc("kb", "other", "hash-o"), textChunks("无关 文档 zhiwenprobe"))
	st := checkConsistent(t, s, "kb", "doc", "zhiwenprobe")
	if len(st.metaIDs) != 3 {
		t.Fatalf("v1 chunks = %v", st.metaIDs)
	}
	if id, ok, err := s.FindHash(ctx, "kb", "hash1"); err != nil || !ok || id != "doc" {
		t.Errorf("FindHash(hash1) = %q %v %v", id, ok, err)
	}

	// Identical content: a no-op (no new generation, same chunk IDs).
	before, _ := s.Chunks(ctx, "kb", "doc")
	mustPut(t, s, testDoc("kb", "doc", "hash1"), v1)
	after, _ := s.Chunks(ctx, "kb", "doc")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("identical put changed chunks:\n%v\n%v", before, after)
	}
	if info, _ := s.Document(ctx, "kb", "doc"); info.Version != 1 {
		t.Errorf("identical put made version %d", info.Version)
	}

	// Replace with v2: only v2 is searchable and stored.
	v2 := textChunks("菠萝 第二版 zhiwenprobe", "芒果 第二版 zhiwenprobe")
	mustPut(t, s, testDoc("kb", "doc", "hash2"), v2)
	st = checkConsistent(t, s, "kb", "doc", "zhiwenprobe")
	if len(st.metaIDs) != 2 {
		t.Fatalf("v2 chunks = %v", st.metaIDs)
	}
	info, err := s.Document(ctx, "kb", "doc")
	if err != nil || info.Version != 2 || info.Chunks != 2 || info.Hash != "hash2" || info.Updated.IsZero() {
		t.Fatalf("Document = %+v, %v", info, err)
	}
	for _, mode := range []Mode{ModeHybrid, ModeLexical, ModeDense} {
		hits, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "第一版 苹果", Mode: mode, K: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if strings.Contains(h.Chunk.Text, "第一版") {
				t.Errorf("%v search returned replaced chunk %s", mode, h.Chunk.ID)
			}
		}
		hits, err = s.Search(ctx, Query{KBs: []string{"kb"}, Text: "菠萝", Mode: mode})
		if err != nil || len(hits) == 0 || hits[0].Chunk.Text != v2[0].Text || hits[0].DocName != "doc.txt" {
			t.Errorf("%v search for v2 text = %+v, %v", mode, hits, err)
		}
	}
	chunks, err := s.Chunks(ctx, "kb", "doc")
	if err != nil || len(chunks) != 2 || chunks[1].Seq != 1 || chunks[1].DocID != "doc" || chunks[1].Text != v2[1].Text {
		t.Fatalf("Chunks = %+v, %v", chunks, err)
	}
	if c, err := s.Chunk(ctx, "kb", chunks[0].ID); err != nil || c.Text != v2[0].Text {
		t.Errorf("Chunk(%s) = %+v, %v", chunks[0].ID, c, err)
	}
	if _, err := s.Chunk(ctx, "kb", before[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Chunk of replaced version = %v, want ErrNotFound", err)
	}
	if _, ok, _ := s.FindHash(ctx, "kb", "hash1"); ok {
		t.Error("FindHash still finds the replaced version's hash")
	}

	// The same file split differently (a forced re-ingest) is a new version.
	resplit := textChunks("菠萝 第二版 zhiwenprobe 芒果 第二版 zhiwenprobe")
	mustPut(t, s, testDoc("kb", "doc", "hash2"), resplit)
	if info, _ := s.Document(ctx, "kb", "doc"); info.Version != 3 || info.Chunks != 1 {
		t.Errorf("re-split put: version %d with %d chunks, want 3 with 1", info.Version, info.Chunks)
	}
	checkConsistent(t, s, "kb", "doc", "zhiwenprobe")

	// Delete removes every trace and leaves the other document alone.
	if err := s.DeleteDocument(ctx, "kb", "doc"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDocument(ctx, "kb", "doc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
	st = checkConsistent(t, s, "kb", "doc", "zhiwenprobe")
	if len(st.lexicalIDs)+len(st.denseIDs)+len(st.metaIDs) != 0 || st.lexicalCount != 1 || st.denseCount != 1 {
		t.Errorf("after delete: %+v", st)
	}
	if _, err := s.Document(ctx, "kb", "doc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Document after delete = %v", err)
	}
	if _, err := s.Chunks(ctx, "kb", "doc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Chunks after delete = %v", err)
	}
	if _, ok, _ := s.FindHash(ctx, "kb", "hash2"); ok {
		t.Error("FindHash finds a deleted document")
	}
	docs, err := s.Documents(ctx, "kb")
	if err != nil || len(docs) != 1 || docs[0].ID != "other" || docs[0].Chunks != 1 || docs[0].Version != 1 {
		t.Errorf("Documents = %+v, %v", docs, err)
	}

	// Bad input.
	if err := s.PutDocument(ctx, testDoc("kb", "", "h"), nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty doc ID = %v, want ErrInvalid", err)
	}
	if err := s.PutDocument(ctx, testDoc("nokb", "d", "h"), nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing KB = %v, want ErrNotFound", err)
	}
	if _, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "  "}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty query = %v, want ErrInvalid", err)
	}
}

func TestPutDocumentCancelledRollsBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "kb")
	mustPut(t, s, testDoc("kb", "doc", "v1"), textChunks("旧版 zhiwenprobe"))
	texts := make([]string, 3*writeBatch)
	for i := range texts {
		texts[i] = fmt.Sprintf("新版 段落%d zhiwenprobe", i)
	}
	err := s.PutDocument(ctx, testDoc("kb", "doc", "v2"), textChunks(texts...), func(done, total int) {
		if done >= writeBatch {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put = %v, want context.Canceled", err)
	}
	st := checkConsistent(t, s, "kb", "doc", "zhiwenprobe")
	if len(st.metaIDs) != 1 || st.lexicalCount != 1 {
		t.Errorf("after cancelled put: %+v, want the single v1 chunk", st)
	}
}

func TestSearchFiltersInsideIndexes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "kb")
	// 80 documents that match the query strongly push the weak one far below
	// the default candidate depth (50); a post-filter would lose it.
	for i := range 80 {
		doc := testDoc("kb", fmt.Sprintf("strong%02d", i), fmt.Sprint("s", i))
		doc.Meta = map[string]string{"dept": "sales"}
		mustPut(t, s, doc, textChunks(fmt.Sprintf("报销 报销 报销 差旅 报销 编号%d", i)))
	}
	weak := testDoc("kb", "weak", "w")
	weak.Meta = map[string]string{"dept": "hr"}
	mustPut(t, s, weak, textChunks("员工 手册 年假 规定，另有一处提到报销"))

	for _, mode := range []Mode{ModeHybrid, ModeLexical, ModeDense} {
		plain, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "报销 差旅", Mode: mode, K: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range plain {
			if h.Chunk.DocID == "weak" {
				t.Fatalf("%v: weak document ranks in the unfiltered top 3; the test proves nothing", mode)
			}
		}
		for _, f := range []Filter{{DocIDs: []string{"weak"}}, {Meta: map[string]string{"dept": "hr"}}} {
			hits, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "报销 差旅", Mode: mode, K: 3, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 1 || hits[0].Chunk.DocID != "weak" {
				t.Errorf("%v filter %+v: hits %+v, want only the weak document", mode, f, hits)
			}
		}
		hits, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "报销", Mode: mode, K: 5, Filter: Filter{Meta: map[string]string{"dept": "sales"}}})
		if err != nil || len(hits) != 5 {
			t.Errorf("%v sales filter: %d hits, %v", mode, len(hits), err)
		}
		for _, h := range hits {
			if h.Chunk.DocID == "weak" {
				t.Errorf("%v sales filter returned the hr document", mode)
			}
		}
	}
}

func TestSearchMergesKnowledgeBases(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "甲")
	mustCreateKB(t, s, "乙")
	mustPut(t, s, testDoc("甲", "a", "ha"), textChunks("年假 天数 规定 十五天", "无关 内容"))
	mustPut(t, s, testDoc("乙", "b", "hb"), textChunks("年假 申请 流程", "其他 内容"))
	hits, err := s.Search(ctx, Query{KBs: []string{"甲", "乙", "甲"}, Text: "年假", K: 10})
	if err != nil {
		t.Fatal(err)
	}
	kbs := map[string]bool{}
	for _, h := range hits {
		if strings.Contains(h.Chunk.Text, "年假") {
			kbs[h.KB] = true
		}
	}
	if !kbs["甲"] || !kbs["乙"] {
		t.Errorf("merged search hits %+v, want 年假 chunks from both KBs", hits)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Errorf("hits not sorted by score at %d", i)
		}
	}
	if _, err := s.Search(ctx, Query{KBs: []string{"甲", "丙"}, Text: "年假"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("search with a missing KB = %v, want ErrNotFound", err)
	}
}

// TestConcurrentSearchDuringReplace hammers Search while a writer replaces
// documents. A search reads chunk metadata in one transaction, so every hit
// must be a committed chunk, and all hits of one document must come from a
// single version (the same generation in the chunk ID).
func TestConcurrentSearchDuringReplace(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "kb")
	docText := func(doc, round, i int) string {
		return fmt.Sprintf("制度 条款 第%d轮 文档%d 段落%d 报销 审批 zhiwenprobe", round, doc, i)
	}
	put := func(doc, round int) {
		texts := make([]string, 40)
		for i := range texts {
			texts[i] = docText(doc, round, i)
		}
		mustPut(t, s, testDoc("kb", fmt.Sprint("doc", doc), fmt.Sprint(doc, "-", round)), textChunks(texts...))
	}
	put(0, 0)
	put(1, 0)

	var stop atomic.Bool
	var searches atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			modes := []Mode{ModeHybrid, ModeLexical, ModeDense}
			for i := 0; !stop.Load(); i++ {
				hits, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "报销 审批 制度", K: 20, Mode: modes[(i+w)%3]})
				if err != nil {
					errc <- err
					return
				}
				searches.Add(1)
				gens := map[string]string{}
				for _, h := range hits {
					if h.Chunk.ID == "" || h.Chunk.Text == "" || h.DocName == "" {
						errc <- fmt.Errorf("uncommitted hit %+v", h)
						return
					}
					gen := h.Chunk.ID[:strings.LastIndex(h.Chunk.ID, ":")]
					if g, ok := gens[h.Chunk.DocID]; ok && g != gen {
						errc <- fmt.Errorf("one result mixes versions %s and %s", g, gen)
						return
					}
					gens[h.Chunk.DocID] = gen
				}
			}
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	rounds := 0
	for round := 1; round <= 12 && (round <= 4 || time.Now().Before(deadline)); round++ {
		put(round%2, round)
		rounds++
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if searches.Load() < 10 {
		t.Errorf("only %d searches ran during %d replacements", searches.Load(), rounds)
	}
	for _, d := range []string{"doc0", "doc1"} {
		checkConsistent(t, s, "kb", d, "zhiwenprobe")
	}
	t.Logf("%d searches during %d replacements", searches.Load(), rounds)
}
