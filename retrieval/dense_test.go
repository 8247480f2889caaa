package retrieval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"zhiwen/generation/tensor"
)

func TestHashEmbedder(t *testing.T) {
	ctx := context.Background()
	e := NewHashEmbedder(256)
	if e.Name() != "hash-ngram-v2-256" || e.Dim() != 256 {
		t.Fatalf("Name/Dim = %s/%d", e.Name(), e.Dim())
	}
	texts := []string{
		"北京是中华人民共和国的首都。",
		"北京是中国的首都城市。",
		"光合作用把二氧化碳和水变成葡萄糖。",
		"Machine learning models need training data.",
		"",
	}
	vecs, err := e.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs[:4] {
		if len(v) != 256 {
			t.Fatalf("vector %d has %d dims", i, len(v))
		}
		if n := math.Sqrt(float64(dotFloat32(v, v))); math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d has norm %f", i, n)
		}
	}
	if !isZero(vecs[4]) {
		t.Errorf("empty text should embed to the zero vector")
	}
	again, _ := e.EmbedDocuments(ctx, texts[:1])
	if !slices.Equal(again[0], vecs[0]) {
		t.Errorf("embedding is not deterministic")
	}
	near, far := dotFloat32(vecs[0], vecs[1]), dotFloat32(vecs[0], vecs[2])
	if !(near > 0.4 && far < 0.2 && near > far+0.3) {
		t.Errorf("similar texts cos=%.3f, unrelated cos=%.3f", near, far)
	}
	q, err := e.EmbedQuery(ctx, "中国的首都是哪里？")
	if err != nil {
		t.Fatal(err)
	}
	if dotFloat32(q, vecs[1]) <= dotFloat32(q, vecs[2]) {
		t.Errorf("query closer to the unrelated text")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.EmbedDocuments(cctx, texts); err == nil {
		t.Errorf("EmbedDocuments ignored a cancelled context")
	}
}

func randomUnitVectors(rng *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		tensor.NormalizeL2(v)
		out[i] = v
	}
	return out
}

// exactTop is the brute-force float32 reference for SearchVector.
func exactTop(vecs [][]float32, ids []string, q []float32, k int, keep func(i int) bool) []string {
	type hit struct {
		id string
		s  float32
	}
	var hits []hit
	for i, v := range vecs {
		if keep(i) {
			hits = append(hits, hit{ids[i], dotFloat32(q, v)})
		}
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].s > hits[b].s })
	var out []string
	for _, h := range hits[:min(k, len(hits))] {
		out = append(out, h.id)
	}
	return out
}

func TestDenseMatchesExactSearch(t *testing.T) {
	ctx := context.Background()
	const n, dim, k = 5000, 64, 10
	rng := rand.New(rand.NewPCG(1, 2))
	vecs := randomUnitVectors(rng, n, dim)
	ps := make([]Passage, n)
	idList := make([]string, n)
	for i := range ps {
		idList[i] = fmt.Sprintf("p%05d", i)
		ps[i] = Passage{ID: idList[i], DocID: fmt.Sprintf("d%d", i%50), Meta: map[string]string{"parity": fmt.Sprint(i % 2)}}
	}
	d, err := OpenDense(filepath.Join(t.TempDir(), "dense"), NewHashEmbedder(dim))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.PutVectors(ctx, ps, vecs); err != nil {
		t.Fatal(err)
	}
	queries := randomUnitVectors(rng, 20, dim)
	tests := []struct {
		name string
		f    Filter
		keep func(i int) bool
	}{
		{"all", Filter{}, func(int) bool { return true }},
		{"docs", Filter{DocIDs: []string{"d3", "d17", "d3"}}, func(i int) bool { return i%50 == 3 || i%50 == 17 }},
		{"meta", Filter{Meta: map[string]string{"parity": "1"}}, func(i int) bool { return i%2 == 1 }},
		{"docs+meta", Filter{DocIDs: []string{"d4"}, Meta: map[string]string{"parity": "1"}}, func(int) bool { return false }},
	}
	for _, tc := range tests {
		for qi, q := range queries {
			got, err := d.SearchVector(ctx, q, k, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			want := exactTop(vecs, idList, q, k, tc.keep)
			if !slices.Equal(scoredIDs(got), want) {
				t.Errorf("%s query %d: got %v, want %v", tc.name, qi, scoredIDs(got), want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Score > got[i-1].Score {
					t.Errorf("%s: results not sorted by score", tc.name)
				}
			}
		}
	}
}

func TestDensePersistDeleteReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dense")
	e := NewHashEmbedder(128)
	d, err := OpenDense(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	ps := []Passage{
		{ID: "a1", DocID: "A", Text: "北京是中华人民共和国的首都。", Meta: map[string]string{"lang": "zh"}},
		{ID: "a2", DocID: "A", Text: "上海是中国最大的经济中心城市。"},
		{ID: "b1", DocID: "B", Text: "光合作用把二氧化碳和水变成葡萄糖和氧气。"},
		{ID: "empty", DocID: "B", Text: "。。。"},
	}
	if err := d.Put(ctx, ps); err != nil {
		t.Fatal(err)
	}
	check := func(stage string, query string, f Filter, want []string) {
		k := max(len(want), 1)
		t.Helper()
		got, err := d.Search(ctx, query, k, f)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		if g := scoredIDs(got); !slices.Equal(g, want) {
			t.Errorf("%s: Search(%q) = %v, want %v", stage, query, g, want)
		}
	}
	check("fresh", "中国的首都是哪里", Filter{}, []string{"a1"})
	check("fresh", "上海的经济中心", Filter{}, []string{"a2"})
	check("fresh", "二氧化碳", Filter{DocIDs: []string{"B"}}, []string{"b1"})
	check("fresh", "首都", Filter{Meta: map[string]string{"lang": "zh"}}, []string{"a1"})
	if err := d.Delete(ctx, []string{"a2", "missing"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, []Passage{{ID: "b1", DocID: "C", Text: "上海的经济"}}); err != nil {
		t.Fatal(err)
	}
	check("after delete", "上海经济", Filter{}, []string{"b1", "a1"})
	check("moved doc", "上海经济", Filter{DocIDs: []string{"B"}}, []string{})
	if d.Count() != 3 {
		t.Errorf("Count = %d, want 3", d.Count())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Search(ctx, "x", 1, Filter{}); err != ErrClosed {
		t.Errorf("Search after Close: %v, want ErrClosed", err)
	}

	if _, err := OpenDense(dir, NewHashEmbedder(256)); err == nil || !strings.Contains(err.Error(), "hash-ngram-v2-128") {
		t.Errorf("opening with another embedder: err = %v, want a mismatch error", err)
	}
	d, err = OpenDense(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Count() != 3 {
		t.Errorf("Count after reopen = %d, want 3", d.Count())
	}
	check("reopened", "上海经济", Filter{DocIDs: []string{"C"}}, []string{"b1"})
	check("reopened", "中国的首都", Filter{}, []string{"a1"})
}

// collidingIDs finds two IDs that chromem-go would store in the same file.
func collidingIDs(t *testing.T) (string, string) {
	seen := make(map[string]string)
	for i := 0; i < 1_000_000; i++ {
		id := fmt.Sprintf("chunk-%d", i)
		s := chromemSlot(id)
		if other, ok := seen[s]; ok {
			return other, id
		}
		seen[s] = id
	}
	t.Fatal("no colliding IDs found")
	return "", ""
}

func TestDenseFileSlotCollision(t *testing.T) {
	ctx := context.Background()
	a, b := collidingIDs(t)
	dir := filepath.Join(t.TempDir(), "dense")
	e := NewHashEmbedder(64)
	d, err := OpenDense(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, []Passage{{ID: a, DocID: "A", Text: "苹果"}, {ID: b, DocID: "B", Text: "香蕉"}}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = OpenDense(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != 2 {
		t.Fatalf("after reopen Count = %d, want 2 (%s and %s share a file slot)", d.Count(), a, b)
	}
	if err := d.Delete(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = OpenDense(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Search(ctx, "香蕉", 5, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scoredIDs(got), []string{b}) {
		t.Errorf("after deleting %s, Search = %v, want [%s]", a, scoredIDs(got), b)
	}
}

// TestDenseRepairsTornFile simulates a crash in the middle of writing one
// passage file: the index reopens without it and keeps the rest.
func TestDenseRepairsTornFile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dense")
	e := NewHashEmbedder(64)
	d, err := OpenDense(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, []Passage{{ID: "keep", DocID: "A", Text: "苹果"}, {ID: "torn", DocID: "A", Text: "香蕉"}}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	colDir := filepath.Join(dir, chromemSlot(denseCollection))
	path := filepath.Join(colDir, chromemSlot("torn")+".gob")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(colDir, "deadbeef.gob"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err = OpenDense(dir, e)
	if err != nil {
		t.Fatalf("reopen after torn write: %v", err)
	}
	defer d.Close()
	if d.Count() != 1 {
		t.Errorf("Count = %d, want 1", d.Count())
	}
	if err := d.Put(ctx, []Passage{{ID: "torn", DocID: "A", Text: "香蕉"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Search(ctx, "香蕉", 1, Filter{}); !slices.Equal(scoredIDs(got), []string{"torn"}) {
		t.Errorf("re-put after repair: Search = %v", scoredIDs(got))
	}
}

// TestDenseConcurrent runs searches while passages are put and deleted
// (run with -race).
func TestDenseConcurrent(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDense(filepath.Join(t.TempDir(), "dense"), NewHashEmbedder(64))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, err := OpenLexical(filepath.Join(t.TempDir(), "lex"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 16)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := fmt.Sprintf("文档%d 内容", i%7+w)
				if _, err := d.Search(ctx, q, 5, Filter{}); err != nil {
					errs <- err
					return
				}
				if _, err := l.Search(ctx, q, 5, Filter{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for round := range 12 {
		var ps []Passage
		for i := range 100 {
			ps = append(ps, Passage{ID: fmt.Sprintf("r%d-%d", round, i), DocID: fmt.Sprint(round), Text: fmt.Sprintf("文档%d 内容 第%d段", i%11, i)})
		}
		if err := d.Put(ctx, ps); err != nil {
			t.Fatal(err)
		}
		if err := l.Put(ctx, ps); err != nil {
			t.Fatal(err)
		}
		if round > 0 {
			var del []string
			for i := range 100 {
				del = append(del, fmt.Sprintf("r%d-%d", round-1, i))
			}
			if err := d.Delete(ctx, del); err != nil {
				t.Fatal(err)
			}
			if err := l.Delete(ctx, del); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d.Count() != 100 {
		t.Errorf("dense Count = %d, want 100", d.Count())
	}
	if n, _ := l.Count(); n != 100 {
		t.Errorf("lexical Count = %d, want 100", n)
	}
	// 11 rounds of 100 deletes exceed the compaction threshold.
	if len(d.rows) > 4*d.Count() {
		t.Errorf("matrix not compacted: %d rows for %d live", len(d.rows), d.Count())
	}
	got, err := d.Search(ctx, "文档3 内容", 300, Filter{DocIDs: []string{"11"}})
	if err != nil || len(got) != 100 {
		t.Errorf("after churn: %d results, err %v; want 100", len(got), err)
	}
}
