package retrieval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The 100k-chunk benchmark corpus: synthetic Chinese chunks of about 300
// characters made of shuffled CMRC sentences. The lexical index is built once
// into os.TempDir()/zhiwen-retrieval-bench-* and reused by later runs.
const benchChunks = 100_000

var (
	benchLexOnce   sync.Once
	benchDenseOnce sync.Once
	benchErr       error
	benchLex       *Lexical
	benchDense     *Dense
	benchQueries   []string
	benchMem       struct{ lexHeapMB, denseHeapMB, rssMB float64 }
)

// benchSentences splits the CMRC passages into sentences.
func benchSentences(t testing.TB) ([]string, []string) {
	c := loadCMRC(t, true)
	var sents []string
	for _, p := range c.passages {
		start := 0
		rs := []rune(p.Text)
		for i, r := range rs {
			if strings.ContainsRune("。！？；", r) || i == len(rs)-1 {
				if s := strings.TrimSpace(string(rs[start : i+1])); s != "" {
					sents = append(sents, s)
				}
				start = i + 1
			}
		}
	}
	qs := make([]string, len(c.questions))
	for i, q := range c.questions {
		qs[i] = q.Text
	}
	return sents, qs
}

// synthChunks makes n chunks of about 300 runes from random sentences, in
// documents of 10 chunks each.
func synthChunks(sents []string, from, n int) []Passage {
	out := make([]Passage, 0, n)
	for i := from; i < from+n; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		var b strings.Builder
		for runes := 0; runes < 300; {
			s := sents[rng.IntN(len(sents))]
			b.WriteString(s)
			runes += len([]rune(s))
		}
		out = append(out, Passage{
			ID:    "c" + strconv.Itoa(i),
			DocID: "d" + strconv.Itoa(i/10),
			Text:  b.String(),
			Meta:  map[string]string{"shard": strconv.Itoa(i % 4)},
		})
	}
	return out
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// benchLexical opens (building on first use) the 100k-chunk lexical index,
// cached on disk across runs.
func benchLexical(b *testing.B) (*Lexical, []string) {
	benchLexOnce.Do(func() {
		sents, qs := benchSentences(b)
		benchQueries = qs
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("zhiwen-retrieval-bench-%d-%s", benchChunks, AnalyzerName))
		done := filepath.Join(dir, "complete")
		if _, err := os.Stat(done); err != nil {
			os.RemoveAll(dir)
			start, c0 := time.Now(), cpuTime()
			l, err := OpenLexical(dir)
			if err != nil {
				benchErr = err
				return
			}
			var bytes int
			for from := 0; from < benchChunks; from += 2000 {
				ps := synthChunks(sents, from, 2000)
				for _, p := range ps {
					bytes += len(p.Text)
				}
				if err := l.Put(context.Background(), ps); err != nil {
					benchErr = err
					return
				}
			}
			if err := l.Close(); err != nil {
				benchErr = err
				return
			}
			b.Logf("lexical: indexed %d chunks (%.1f MB of text) in %v wall, %v CPU",
				benchChunks, float64(bytes)/1e6, time.Since(start).Round(time.Second), (cpuTime() - c0).Round(time.Second))
			if err := os.WriteFile(done, nil, 0o644); err != nil {
				benchErr = err
				return
			}
		}
		h0 := heapMB()
		benchLex, benchErr = OpenLexical(dir)
		benchMem.lexHeapMB = heapMB() - h0
		b.Logf("lexical index of %d chunks open: heap +%.1f MB (segments are memory-mapped)", benchChunks, benchMem.lexHeapMB)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchLex, benchQueries
}

// benchDenseIndex builds the 100k-chunk dense matrix in memory (embedding
// the synthetic chunks with the built-in embedder, without chromem-go files:
// Search reads only the in-memory matrix).
func benchDenseIndex(b *testing.B) (*Dense, []string) {
	benchDenseOnce.Do(func() {
		sents, qs := benchSentences(b)
		benchQueries = qs
		e := NewHashEmbedder(0)
		h0 := heapMB()
		d := &Dense{emb: e, dim: e.Dim()}
		d.initMatrix(denseScanType)
		ctx := context.Background()
		for from := 0; from < benchChunks; from += 2000 {
			ps := synthChunks(sents, from, 2000)
			texts := make([]string, len(ps))
			for i, p := range ps {
				texts[i] = p.Text
			}
			vecs, err := e.EmbedDocuments(ctx, texts)
			if err != nil {
				benchErr = err
				return
			}
			for i, p := range ps {
				d.setRow(p.ID, p.DocID, p.Meta, vecs[i], 0)
			}
		}
		benchMem.denseHeapMB = heapMB() - h0
		benchMem.rssMB = rssMB()
		b.Logf("dense matrix of %d × %d (%s scan rows + float32 vectors + row metadata): heap +%.1f MB, process RSS %.0f MB",
			benchChunks, e.Dim(), d.scanType, benchMem.denseHeapMB, benchMem.rssMB)
		benchDense = d
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDense, benchQueries
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runLatency calls op b.N times and reports p50/p99 wall latency and the
// CPU time per operation (stable when the machine is shared).
func runLatency(b *testing.B, op func(i int) error) {
	var ds []time.Duration
	c0 := cpuTime()
	n := 0
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		n++
	}
	reportLatency(b, ds)
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(n), "cpu-ms/op")
}

// BenchmarkLexicalSearch100k measures BM25 top-50 over 100,000 chunks with
// common query terms pruned at several document-frequency ratios (0 = none;
// lexMaxDFRatio is the default).
func BenchmarkLexicalSearch100k(b *testing.B) {
	l, qs := benchLexical(b)
	ctx := context.Background()
	for _, ratio := range []float64{lexMaxDFRatio, 0.1, 0.02, 0} {
		b.Run(fmt.Sprintf("maxDF%.2f", ratio), func(b *testing.B) {
			l.maxDFRatio = ratio
			defer func() { l.maxDFRatio = lexMaxDFRatio }()
			runLatency(b, func(i int) error {
				_, err := l.Search(ctx, qs[i%len(qs)], 50, Filter{})
				return err
			})
		})
	}
}

func BenchmarkDenseSearch100k(b *testing.B) {
	d, qs := benchDenseIndex(b)
	ctx := context.Background()
	runLatency(b, func(i int) error {
		_, err := d.Search(ctx, qs[i%len(qs)], 50, Filter{})
		return err
	})
}

func BenchmarkDenseSearchFiltered100k(b *testing.B) {
	d, qs := benchDenseIndex(b)
	ctx := context.Background()
	f := Filter{Meta: map[string]string{"shard": "2"}}
	runLatency(b, func(i int) error {
		_, err := d.Search(ctx, qs[i%len(qs)], 50, f)
		return err
	})
}

// BenchmarkIndexesHybrid100k runs both index searches one after the other and fuses
// the top 50 of each, as the store does.
func BenchmarkIndexesHybrid100k(b *testing.B) {
	l, qs := benchLexical(b)
	d, _ := benchDenseIndex(b)
	ctx := context.Background()
	runLatency(b, func(i int) error {
		q := qs[i%len(qs)]
		lex, err := l.Search(ctx, q, 50, Filter{})
		if err != nil {
			return err
		}
		dense, err := d.Search(ctx, q, 50, Filter{})
		if err != nil {
			return err
		}
		_ = fuse(lex, dense, defaultQualityWeights, qualityRRFK)
		return nil
	})
}

// BenchmarkIndexThroughput puts 2,000 fresh chunks per iteration into a
// new lexical and dense index (built-in embedder); MB/s is text indexed.
func BenchmarkIndexThroughput(b *testing.B) {
	sents, _ := benchSentences(b)
	ps := synthChunks(sents, 0, 2000)
	var bytes int64
	for _, p := range ps {
		bytes += int64(len(p.Text))
	}
	ctx := context.Background()
	for _, mode := range []string{"lexical", "dense", "both"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				l, err := OpenLexical(filepath.Join(dir, "lex"))
				if err != nil {
					b.Fatal(err)
				}
				d, err := OpenDense(filepath.Join(dir, "dense"), NewHashEmbedder(0))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if mode != "dense" {
					if err := l.Put(ctx, ps); err != nil {
						b.Fatal(err)
					}
				}
				if mode != "lexical" {
					if err := d.Put(ctx, ps); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				l.Close()
				d.Close()
				b.StartTimer()
			}
		})
	}
}
