package retrieval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// syntheticText draws Zipf-distributed two- and three-character words from
// a fixed pool of CJK characters, so that term statistics look like text.
type syntheticText struct {
	words []string
	zipf  *rand.Zipf
	rng   *rand.Rand
}

func newSyntheticText(seed uint64) *syntheticText {
	rng := rand.New(rand.NewPCG(seed, 1))
	st := &syntheticText{rng: rng}
	for range 20000 {
		n := 2 + rng.IntN(2)
		var b strings.Builder
		for range n {
			b.WriteRune(rune(0x4E00 + rng.IntN(3500)))
		}
		st.words = append(st.words, b.String())
	}
	st.zipf = rand.NewZipf(rng, 1.1, 2, uint64(len(st.words)-1))
	return st
}

func (st *syntheticText) sentence(words int) string {
	parts := make([]string, words)
	for i := range parts {
		parts[i] = st.words[st.zipf.Uint64()]
	}
	return strings.Join(parts, "") + "。"
}

// BenchmarkHybridSearch100k measures fused search latency over 100,000
// synthetic chunks (1,000 documents of 100 chunks, ~120 characters each)
// stored through the Store, with queries cut from stored chunks. It logs
// p50 and p99 per query. Building the store takes a few minutes on 2 cores.
func BenchmarkHybridSearch100k(b *testing.B) {
	const docs, perDoc = 1000, 100
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "zhiwen-bench-store-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := Open(dir, Options{Logger: quietLogger(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateKB(ctx, KBConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	gen := newSyntheticText(42)
	var queries []string
	start := time.Now()
	for d := range docs {
		texts := make([]string, perDoc)
		for i := range texts {
			texts[i] = gen.sentence(20) + gen.sentence(20)
			if gen.rng.IntN(50) == 0 {
				r := []rune(texts[i])
				queries = append(queries, string(r[10:22]))
			}
		}
		if err := s.PutDocument(ctx, testDoc("bench", fmt.Sprint("doc", d), fmt.Sprint("h", d)), textChunks(texts...), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored %d chunks in %v", docs*perDoc, time.Since(start).Round(time.Second))

	for _, mode := range []Mode{ModeHybrid, ModeLexical, ModeDense} {
		b.Run(mode.String(), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				t0 := time.Now()
				hits, err := s.Search(ctx, Query{KBs: []string{"bench"}, Text: queries[i%len(queries)], K: 5, Mode: mode})
				if err != nil || len(hits) == 0 {
					b.Fatalf("search: %d hits, %v", len(hits), err)
				}
				lat = append(lat, time.Since(t0))
				i++
			}
			slices.Sort(lat)
			p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.Logf("%v: %d queries, p50 %v, p99 %v", mode, len(lat), p50, p99)
		})
	}
}
