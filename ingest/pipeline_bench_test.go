package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"zhiwen/ingest"
	"zhiwen/retrieval"
)

// BenchmarkIngestChineseText measures end-to-end ingest of Chinese plain
// text (parse, split, embed with the built-in embedder, index in bleve and
// chromem-go, commit metadata) in MB/s.
//
//	go test ./ingest -run '^$' -bench IngestChineseText -benchtime 3x
func BenchmarkIngestChineseText(b *testing.B) {
	ctx := context.Background()
	text := cmrcText(b, 2<<20)
	store, err := retrieval.Open(filepath.Join(b.TempDir(), "store"), retrieval.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateKB(ctx, retrieval.KBConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	p := ingest.NewPipeline(store)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// A different name each time: a new document, not a no-op.
		// Unique content too, or identical bytes would be a no-op.
		data := append([]byte(fmt.Sprintf("文档 %d。\n\n", i)), text...)
		res, err := p.Ingest(ctx, "bench", fmt.Sprintf("doc-%d.txt", i), data, ingest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Chunks == 0 {
			b.Fatal("no chunks")
		}
	}
	b.ReportMetric(float64(len(text))*float64(b.N)/time.Since(start).Seconds()/1e6, "MB/s")
}
