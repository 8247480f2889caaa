package retrieval

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/cjk" // the "cjk" analyzer, for comparison
	"github.com/blevesearch/bleve/v2/registry"

	"zhiwen/ingest"
)

// testBigramAnalyzer indexes CJK bigrams only, for comparison.
const testBigramAnalyzer = "test_cjk_bigram"

func init() {
	err := registry.RegisterAnalyzer(testBigramAnalyzer, func(map[string]interface{}, *registry.Cache) (analysis.Analyzer, error) {
		return cjkAnalyzer{}, nil
	})
	if err != nil {
		panic(err)
	}
}

// cmrcCompare turns on the slow comparison of analyzers, query processing,
// embedder dimensions and fusion weights behind the defaults.
var cmrcCompare = flag.Bool("cmrc.compare", false, "TestCMRCQuality: also compare analyzers, embedder dims and fusion weights")

type cmrcQuestion struct {
	ID, Text, ContextID string
	Answers             []string
}

// cmrcCorpus is CMRC 2018 dev as chunks and questions.
type cmrcCorpus struct {
	passages  []Passage
	chunkDoc  map[string]string // chunk ID → context ID
	chunkText map[string]string
	docChunks map[string]int // context ID → number of chunks
	questions []cmrcQuestion
}

// loadCMRC reads the CMRC dev set and splits every passage with the
// ingest splitter's default options (whole passages when whole is set).
func loadCMRC(t testing.TB, whole bool) *cmrcCorpus {
	t.Helper()
	path := filepath.Join(repoRoot(t), "..", "shared", "testdata", "retrieval", "cmrc2018_dev.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("CMRC data missing: %v", err)
	}
	var raw []struct {
		ContextID   string `json:"context_id"`
		ContextText string `json:"context_text"`
		QAs         []struct {
			QueryID   string            `json:"query_id"`
			QueryText string            `json:"query_text"`
			Answers   []json.RawMessage `json:"answers"` // strings, and a few bare numbers
		} `json:"qas"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	c := &cmrcCorpus{chunkDoc: map[string]string{}, chunkText: map[string]string{}, docChunks: map[string]int{}}
	for _, r := range raw {
		var texts []string
		if whole {
			texts = []string{r.ContextText}
		} else {
			parsed := &ingest.Parsed{Format: "text", Blocks: []ingest.Block{{Kind: ingest.Paragraph, Text: r.ContextText}}}
			for _, ch := range ingest.Split(parsed, ingest.DefaultSplitOptions()) {
				texts = append(texts, ch.Text)
			}
		}
		for i, text := range texts {
			id := fmt.Sprintf("%s#%d", r.ContextID, i)
			c.passages = append(c.passages, Passage{ID: id, DocID: r.ContextID, Text: text})
			c.chunkDoc[id] = r.ContextID
			c.chunkText[id] = text
		}
		c.docChunks[r.ContextID] = len(texts)
		for _, qa := range r.QAs {
			var answers []string
			for _, a := range qa.Answers {
				var s string
				if json.Unmarshal(a, &s) != nil {
					s = string(a)
				}
				answers = append(answers, s)
			}
			c.questions = append(c.questions, cmrcQuestion{qa.QueryID, qa.QueryText, r.ContextID, answers})
		}
	}
	if len(c.questions) != 3219 || len(raw) != 848 {
		t.Fatalf("%s: %d passages and %d questions, want 848 and 3219", path, len(raw), len(c.questions))
	}
	return c
}

// qualityMetrics are averages over the questions.
type qualityMetrics struct {
	R1, R5, R10, MRR10, NDCG10 float64
	// Strict* count a hit only when the chunk contains a gold answer.
	StrictR1, StrictR5, StrictR10 float64
}

func (m qualityMetrics) String() string {
	return fmt.Sprintf("R@1 %.4f R@5 %.4f R@10 %.4f MRR@10 %.4f nDCG@10 %.4f | strict R@1 %.4f R@5 %.4f R@10 %.4f",
		m.R1, m.R5, m.R10, m.MRR10, m.NDCG10, m.StrictR1, m.StrictR5, m.StrictR10)
}

// measure scores ranked chunk IDs (one list per question, best first).
// Relevance is binary: a chunk of the question's passage; nDCG's ideal
// ranking puts all of the passage's chunks (up to 10) first.
func (c *cmrcCorpus) measure(results [][]string) qualityMetrics {
	var m qualityMetrics
	for qi, q := range c.questions {
		first, strictFirst := 0, 0
		var dcg float64
		for i, id := range results[qi] {
			if i >= 10 {
				break
			}
			if c.chunkDoc[id] != q.ContextID {
				continue
			}
			dcg += 1 / math.Log2(float64(i+2))
			if first == 0 {
				first = i + 1
			}
			if strictFirst == 0 && containsAny(c.chunkText[id], q.Answers) {
				strictFirst = i + 1
			}
		}
		var idcg float64
		for i := 0; i < min(c.docChunks[q.ContextID], 10); i++ {
			idcg += 1 / math.Log2(float64(i+2))
		}
		m.NDCG10 += dcg / idcg
		if first > 0 {
			m.MRR10 += 1 / float64(first)
		}
		for _, x := range []struct {
			rank int
			out  []*float64
		}{{first, []*float64{&m.R1, &m.R5, &m.R10}}, {strictFirst, []*float64{&m.StrictR1, &m.StrictR5, &m.StrictR10}}} {
			for j, k := range []int{1, 5, 10} {
				if x.rank > 0 && x.rank <= k {
					*x.out[j]++
				}
			}
		}
	}
	n := float64(len(c.questions))
	for _, p := range []*float64{&m.R1, &m.R5, &m.R10, &m.MRR10, &m.NDCG10, &m.StrictR1, &m.StrictR5, &m.StrictR10} {
		*p /= n
	}
	return m
}

func containsAny(text string, answers []string) bool {
	for _, a := range answers {
		if a != "" && strings.Contains(text, strings.TrimSpace(a)) {
			return true
		}
	}
	return false
}

// searchAll runs every question through search, keeping the top n IDs.
func (c *cmrcCorpus) searchAll(t testing.TB, n int, search func(ctx context.Context, q string, k int) ([]Scored, error)) [][]Scored {
	t.Helper()
	ctx := context.Background()
	out := make([][]Scored, len(c.questions))
	for i, q := range c.questions {
		res, err := search(ctx, q.Text, n)
		if err != nil {
			t.Fatalf("search %s: %v", q.ID, err)
		}
		out[i] = res
	}
	return out
}

func topIDs(lists [][]Scored, k int) [][]string {
	out := make([][]string, len(lists))
	for i, l := range lists {
		out[i] = scoredIDs(l[:min(k, len(l))])
	}
	return out
}

// hybridIDs fuses per-question lexical and dense lists with the store's
// weighted reciprocal rank fusion.
func hybridIDs(lex, dense [][]Scored, w Weights, k float64) [][]string {
	out := make([][]string, len(lex))
	for i := range lex {
		f := fuse(lex[i], dense[i], w, k)
		for _, x := range f[:min(10, len(f))] {
			out[i] = append(out[i], x.ID)
		}
	}
	return out
}

func buildLexical(t testing.TB, c *cmrcCorpus, analyzer string) *Lexical {
	t.Helper()
	l, err := openLexical(filepath.Join(t.TempDir(), "lex"), analyzer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Put(context.Background(), c.passages); err != nil {
		t.Fatal(err)
	}
	return l
}

func buildDense(t testing.TB, c *cmrcCorpus, e Embedder) *Dense {
	t.Helper()
	d, err := OpenDense(filepath.Join(t.TempDir(), "dense"), e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Put(context.Background(), c.passages); err != nil {
		t.Fatal(err)
	}
	return d
}

// Fusion for hybrid retrieval over the built-in embedder, chosen on CMRC:
// the hash embedder is much weaker than BM25, so it only breaks ties.
var defaultQualityWeights = Weights{Lexical: 1, Dense: 0.1}

const qualityRRFK = 10

const qualityCandidates = 50

// TestCMRCQuality measures retrieval quality on CMRC 2018 dev (848
// passages chunked with the default splitter, 3,219 questions) for lexical,
// dense and hybrid search, and fails when quality falls below what was
// measured (minus a small margin).
func TestCMRCQuality(t *testing.T) {
	c := loadCMRC(t, false)
	t.Logf("CMRC: %d chunks from 848 passages, %d questions", len(c.passages), len(c.questions))
	start := time.Now()
	l := buildLexical(t, c, AnalyzerName)
	d := buildDense(t, c, NewHashEmbedder(defaultHashDim))
	t.Logf("indexed in %v", time.Since(start).Round(time.Millisecond))

	lex := c.searchAll(t, qualityCandidates, func(ctx context.Context, q string, k int) ([]Scored, error) { return l.Search(ctx, q, k, Filter{}) })
	dense := c.searchAll(t, qualityCandidates, func(ctx context.Context, q string, k int) ([]Scored, error) { return d.Search(ctx, q, k, Filter{}) })
	results := map[string]qualityMetrics{
		"lexical": c.measure(topIDs(lex, 10)),
		"dense":   c.measure(topIDs(dense, 10)),
		"hybrid":  c.measure(hybridIDs(lex, dense, defaultQualityWeights, qualityRRFK)),
	}
	for _, mode := range []string{"lexical", "dense", "hybrid"} {
		t.Logf("%-8s %v", mode, results[mode])
	}
	// Floors: the measured values minus a margin of about 0.003-0.008.
	floors := map[string]qualityMetrics{
		"lexical": {R5: 0.994, MRR10: 0.978, StrictR5: 0.987},
		"dense":   {R5: 0.900, MRR10: 0.835, StrictR5: 0.890},
		"hybrid":  {R5: 0.995, MRR10: 0.978, StrictR5: 0.987},
	}
	for mode, floor := range floors {
		got := results[mode]
		if got.R5 < floor.R5 || got.MRR10 < floor.MRR10 || got.StrictR5 < floor.StrictR5 {
			t.Errorf("%s below floor: got R@5 %.4f MRR@10 %.4f strict R@5 %.4f; floor %.3f %.3f %.3f",
				mode, got.R5, got.MRR10, got.StrictR5, floor.R5, floor.MRR10, floor.StrictR5)
		}
	}
	if testing.Verbose() {
		logLosses(t, c, "lexical", topIDs(lex, 10), "dense", topIDs(dense, 10))
		logLosses(t, c, "dense", topIDs(dense, 10), "lexical", topIDs(lex, 10))
		n := 0
		for qi, q := range c.questions {
			top := topIDs(lex[qi:qi+1], 5)[0]
			hit := false
			for _, id := range top {
				hit = hit || c.chunkDoc[id] == q.ContextID
			}
			if !hit && n < 5 {
				r := []rune(c.chunkText[top[0]])
				t.Logf("lexical misses top 5: %s %q (answer %q); top-1 %s: %q", q.ID, q.Text, q.Answers[0], top[0], string(r[:min(40, len(r))]))
				n++
			}
		}
	}
	if *cmrcCompare {
		compareQuality(t, c, lex)
	}
}

// logLosses logs questions where mode a misses the passage in its top 5
// while mode b ranks it first.
func logLosses(t *testing.T, c *cmrcCorpus, a string, ra [][]string, b string, rb [][]string) {
	n := 0
	for qi, q := range c.questions {
		hitA := false
		for _, id := range ra[qi][:min(5, len(ra[qi]))] {
			hitA = hitA || c.chunkDoc[id] == q.ContextID
		}
		if !hitA && len(rb[qi]) > 0 && c.chunkDoc[rb[qi][0]] == q.ContextID {
			if n < 5 {
				top := ""
				if len(ra[qi]) > 0 {
					r := []rune(c.chunkText[ra[qi][0]])
					top = string(r[:min(40, len(r))])
				}
				t.Logf("%s misses, %s hits: %s %q (answer %q); %s top-1: %q", a, b, q.ID, q.Text, q.Answers[0], a, top)
			}
			n++
		}
	}
	t.Logf("%s misses top-5 where %s ranks first: %d questions", a, b, n)
}

func compareQuality(t *testing.T, c *cmrcCorpus, lex [][]Scored) {
	whole := loadCMRC(t, true)
	wl := buildLexical(t, whole, AnalyzerName)
	t.Logf("lexical, whole passages: %v", whole.measure(topIDs(whole.searchAll(t, 10, func(ctx context.Context, q string, k int) ([]Scored, error) {
		return wl.Search(ctx, q, k, Filter{})
	}), 10)))
	pl := buildLexical(t, c, AnalyzerName)
	for _, ratio := range []float64{0, 0.2, 0.1, 0.05, 0.02} {
		pl.maxDFRatio = ratio
		res := c.searchAll(t, 10, func(ctx context.Context, q string, k int) ([]Scored, error) { return pl.Search(ctx, q, k, Filter{}) })
		t.Logf("lexical maxDFRatio=%.2f: %v", ratio, c.measure(topIDs(res, 10)))
	}
	for _, analyzer := range []string{AnalyzerName, testBigramAnalyzer, "cjk", testGseAnalyzer} {
		l := buildLexical(t, c, analyzer)
		for _, keep := range []bool{false, true} {
			l.keepQuestionWords = keep
			res := c.searchAll(t, 10, func(ctx context.Context, q string, k int) ([]Scored, error) { return l.Search(ctx, q, k, Filter{}) })
			t.Logf("lexical %-22s keepQuestionWords=%-5v %v", analyzer, keep, c.measure(topIDs(res, 10)))
		}
	}
	for _, dim := range []int{512, 1024, 2048} {
		d := buildDense(t, c, NewHashEmbedder(dim))
		dense := c.searchAll(t, qualityCandidates, func(ctx context.Context, q string, k int) ([]Scored, error) { return d.Search(ctx, q, k, Filter{}) })
		t.Logf("dense dim %4d: %v", dim, c.measure(topIDs(dense, 10)))
		for _, rrfK := range []float64{60, 10} {
			for _, w := range []Weights{{1, 0.05}, {1, 0.1}, {1, 0.2}, {1, 0.3}, {1, 0.5}} {
				t.Logf("  hybrid k=%v w=%v: %v", rrfK, w, c.measure(hybridIDs(lex, dense, w, rrfK)))
			}
		}
	}
}
