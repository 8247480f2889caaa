package retrieval

import (
	"context"
	"fmt"
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestTextTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"北京大学", []string{"北京", "京大", "大学"}},
		{"中", []string{"中"}},
		{"Qwen2.5 模型", []string{"qwen2", "5", "模型"}},
		{"圆周率约3.14。", []string{"圆周", "周率", "率约", "3.14"}},
		{"ＡＢＣ公司", []string{"abc", "公司"}},
		{"版本 v1.2", []string{"版本", "v1", "2"}},
		{"东京タワー", []string{"东京", "京タ", "タワ", "ワー"}},
		{"", nil},
		{"，。！", nil},
	}
	for _, tc := range tests {
		var got []string
		for _, tok := range textTokens(tc.in) {
			got = append(got, tok.term)
			if tok.start < 0 || tok.end > len(tc.in) || tok.start >= tok.end {
				t.Errorf("%q: token %q has bad offsets %d..%d", tc.in, tok.term, tok.start, tok.end)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("textTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestQueryText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"北京是什么时候成立的", "北京 时候成立的"},
		{"谁发明了电话？", " 发明了电话？"},
		{"一线城市住宿标准", "一线城市住宿标准"},
	}
	for _, tc := range tests {
		if got := queryText(tc.in); got != tc.want {
			t.Errorf("queryText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func scoredIDs(ss []Scored) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func TestLexical(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lex")
	l, err := OpenLexical(dir)
	if err != nil {
		t.Fatal(err)
	}
	ps := []Passage{
		{ID: "a1", DocID: "A", Text: "北京是中华人民共和国的首都，位于华北平原。", Meta: map[string]string{"lang": "zh", "year": "2020"}},
		{ID: "a2", DocID: "A", Text: "上海是中国最大的经济中心。", Meta: map[string]string{"lang": "zh"}},
		{ID: "b1", DocID: "B", Text: "The capital of France is Paris.", Meta: map[string]string{"lang": "en"}},
		{ID: "b2", DocID: "B", Text: "北京烤鸭是北京的名菜。", Meta: map[string]string{"lang": "zh", "year": "2021"}},
	}
	if err := l.Put(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Count(); err != nil || n != 4 {
		t.Fatalf("Count = %d, %v; want 4", n, err)
	}
	tests := []struct {
		name  string
		query string
		f     Filter
		want  []string // exact result IDs, best first
		// prefix compares only the first len(want) results
		prefix bool
	}{
		{"bigram match", "上海经济", Filter{}, []string{"a2"}, false},
		{"latin lower-cased", "PARIS", Filter{}, []string{"b1"}, false},
		{"doc filter", "北京", Filter{DocIDs: []string{"A"}}, []string{"a1"}, false},
		{"meta filter", "北京", Filter{Meta: map[string]string{"year": "2021"}}, []string{"b2"}, false},
		{"meta filter no match", "北京", Filter{Meta: map[string]string{"lang": "en"}}, []string{}, false},
		{"two filters", "北京", Filter{DocIDs: []string{"A", "B"}, Meta: map[string]string{"year": "2020"}}, []string{"a1"}, false},
		{"question words dropped", "什么是首都", Filter{}, []string{"a1"}, true},
		{"no terms", "？", Filter{}, []string{}, false},
	}
	for _, tc := range tests {
		got, err := l.Search(ctx, tc.query, 10, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		g := scoredIDs(got)
		if tc.prefix && len(g) > len(tc.want) {
			g = g[:len(tc.want)]
		}
		if !slices.Equal(g, tc.want) {
			t.Errorf("%s: Search(%q) = %v, want %v", tc.name, tc.query, g, tc.want)
		}
	}

	// Two passages mention 北京; the one saying it twice in a shorter text ranks first.
	got, err := l.Search(ctx, "北京", 10, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if g := scoredIDs(got); !slices.Equal(g, []string{"b2", "a1"}) || got[0].Score <= got[1].Score {
		t.Errorf("Search(北京) = %v, want b2 then a1 with falling scores", got)
	}

	// Upsert replaces the text; deleting unknown IDs is a no-op.
	if err := l.Put(ctx, []Passage{{ID: "a2", DocID: "A", Text: "广州是广东省的省会。"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, []string{"b1", "nope", "b1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Search(ctx, "上海", 10, Filter{}); len(got) != 0 {
		t.Errorf("old text of a2 still found: %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Search(ctx, "北京", 1, Filter{}); err != ErrClosed {
		t.Errorf("Search after Close: err = %v, want ErrClosed", err)
	}

	l, err = OpenLexical(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Count(); n != 3 {
		t.Errorf("Count after reopen = %d, want 3", n)
	}
	if got, _ := l.Search(ctx, "广东省会", 10, Filter{}); !slices.Equal(scoredIDs(got), []string{"a2"}) {
		t.Errorf("after reopen Search(广东省会) = %v, want [a2]", scoredIDs(got))
	}
	if sm := l.idx.Mapping().(interface{ AnalyzerNameForPath(string) string }); sm.AnalyzerNameForPath(lexFieldText) != AnalyzerName {
		t.Errorf("text field analyzer = %q", sm.AnalyzerNameForPath(lexFieldText))
	}
}

// TestLexicalFilterBeforeTruncation checks that a filter selects from all
// matches, not from the unfiltered top k.
func TestLexicalFilterBeforeTruncation(t *testing.T) {
	ctx := context.Background()
	l, err := OpenLexical(filepath.Join(t.TempDir(), "lex"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ps []Passage
	for i := range 300 {
		ps = append(ps, Passage{ID: fmt.Sprintf("hot%03d", i), DocID: "hot", Text: "苹果苹果苹果很好吃"})
	}
	for i := range 5 {
		ps = append(ps, Passage{ID: fmt.Sprintf("cold%d", i), DocID: "cold", Text: "这里有一个苹果，还有许多别的水果和蔬菜，比如香蕉、西瓜、白菜和萝卜。"})
	}
	if err := l.Put(ctx, ps); err != nil {
		t.Fatal(err)
	}
	got, err := l.Search(ctx, "苹果", 5, Filter{DocIDs: []string{"cold"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("filtered search returned %d results, want 5: %v", len(got), got)
	}
	for _, s := range got {
		if s.ID[:4] != "cold" {
			t.Errorf("filtered search returned %s", s.ID)
		}
	}
	top, _ := l.Search(ctx, "苹果", 5, Filter{})
	for _, s := range top {
		if s.ID[:3] != "hot" {
			t.Errorf("unfiltered top 5 should be hot passages, got %s", s.ID)
		}
	}
}

// TestLexicalBM25 checks that the index scores with BM25: a term's score
// saturates with its frequency (TF-IDF's sqrt(tf) keeps growing faster) and
// longer passages are penalized.
func TestLexicalBM25(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lex")
	l, err := OpenLexical(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Put(ctx, []Passage{
		{ID: "short", Text: "量子 其他"},
		{ID: "long", Text: "量子 其他 一些 填充 文字 内容 很多 词语 出现 这里"},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Search(ctx, "量子", 2, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "short" || !(got[0].Score > got[1].Score) {
		t.Errorf("length normalization: got %v, want short ranked above long", got)
	}
	// bleve scores with TF-IDF unless BM25 reaches the on-disk index; its
	// BM25 explanation has a saturation term that TF-IDF's lacks.
	mq := bleve.NewMatchQuery("量子")
	mq.SetField(lexFieldText)
	req := bleve.NewSearchRequest(mq)
	req.Explain = true
	res, err := l.idx.Search(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 || !strings.Contains(res.Hits[0].Expl.String(), "saturation(") {
		t.Errorf("score is not BM25; explanation: %v", res.Hits)
	}
}

func TestAnalyzerUnigrams(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"北京大学", []string{"北京", "北", "京大", "京", "大学", "大", "学"}},
		{"中 国", []string{"中", "国"}},
		{"AI与大模型", []string{"ai", "与大", "与", "大模", "大", "模型", "模", "型"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tok := range (cjkAnalyzer{unigrams: true}).Analyze([]byte(tc.in)) {
			got = append(got, string(tok.Term))
			if string(tok.Term) != tc.in[tok.Start:tok.End] && tok.Type == analysis.Ideographic {
				t.Errorf("%q: term %q at %d..%d reads %q", tc.in, tok.Term, tok.Start, tok.End, tc.in[tok.Start:tok.End])
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Analyze(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestLexicalPrunesCommonTerms checks that query terms in more than
// lexMaxDFRatio of the passages are dropped once the index is large, and
// that a query of only such terms still finds passages.
func TestLexicalPrunesCommonTerms(t *testing.T) {
	ctx := context.Background()
	l, err := OpenLexical(filepath.Join(t.TempDir(), "lex"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ps []Passage
	for i := range lexMinDocsForPruning + 200 {
		text := fmt.Sprintf("这是第%d条的记录", i)
		if i == 77 {
			text += "，提到麒麟"
		}
		ps = append(ps, Passage{ID: fmt.Sprintf("p%04d", i), DocID: "d", Text: text})
	}
	if err := l.Put(ctx, ps); err != nil {
		t.Fatal(err)
	}
	terms, err := l.queryTerms(ctx, "的记录麒麟")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(terms, "的") || slices.Contains(terms, "记录") || !slices.Contains(terms, "麒麟") {
		t.Errorf("queryTerms kept %q; want common terms dropped and 麒麟 kept", terms)
	}
	got, err := l.Search(ctx, "的记录麒麟", 3, Filter{})
	if err != nil || len(got) == 0 || got[0].ID != "p0077" {
		t.Errorf("Search = %v, %v; want p0077 first", got, err)
	}
	// Only common terms: the rarest few are searched.
	got, err = l.Search(ctx, "的记录", 5, Filter{})
	if err != nil || len(got) != 5 {
		t.Errorf("common-only query returned %d results (err %v), want 5", len(got), err)
	}
	l.maxDFRatio = 0
	if terms, _ := l.queryTerms(ctx, "的记录"); !slices.Contains(terms, "的") {
		t.Errorf("with pruning off, queryTerms = %q", terms)
	}
}
