package retrieval

import (
	"context"
	"fmt"
	"math"
	"testing"

	"zhiwen/ingest"
)

func scored(ids ...string) []Scored {
	out := make([]Scored, len(ids))
	for i, id := range ids {
		out[i] = Scored{ID: id, Score: float64(10 - i)}
	}
	return out
}

func TestFuseReciprocalRank(t *testing.T) {
	lex := scored("a", "b", "c")
	dense := scored("c", "a", "d")
	tests := []struct {
		name  string
		w     Weights
		order []string
		score map[string]float64
	}{
		{"equal", Weights{1, 1}, []string{"a", "c", "b", "d"}, map[string]float64{
			"a": 1.0/61 + 1.0/62, "c": 1.0/63 + 1.0/61, "b": 1.0 / 62, "d": 1.0 / 63}},
		{"lexical heavy", Weights{2, 1}, []string{"a", "c", "b", "d"}, map[string]float64{
			"a": 2.0/61 + 1.0/62, "c": 2.0/63 + 1.0/61, "b": 2.0 / 62, "d": 1.0 / 63}},
		{"dense only", Weights{0, 1}, []string{"c", "a", "d", "b"}, map[string]float64{
			"c": 1.0 / 61, "a": 1.0 / 62, "d": 1.0 / 63, "b": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fuse(lex, dense, tc.w, 60)
			if len(got) != len(tc.order) {
				t.Fatalf("got %d results, want %d", len(got), len(tc.order))
			}
			for i, f := range got {
				if f.ID != tc.order[i] {
					t.Errorf("rank %d = %s, want %s (all %+v)", i+1, f.ID, tc.order[i], got)
				}
				if math.Abs(f.Score-tc.score[f.ID]) > 1e-12 {
					t.Errorf("score(%s) = %.6f, want %.6f", f.ID, f.Score, tc.score[f.ID])
				}
			}
		})
	}
	got := fuse(lex, dense, Weights{1, 1}, 60)
	if got[0].LexicalRank != 1 || got[0].DenseRank != 2 || got[0].LexicalScore != 10 || got[0].DenseScore != 9 {
		t.Errorf("a's ranks = %+v", got[0])
	}
	if d := got[3]; d.LexicalRank != 0 || d.DenseRank != 3 {
		t.Errorf("d's ranks = %+v, want lexical absent", d)
	}
	// A tie (same score) is broken by the better single rank, then the ID.
	tie := fuse(scored("x"), scored("y"), Weights{1, 1}, 60)
	if tie[0].ID != "x" || tie[1].ID != "y" {
		t.Errorf("tie order %v", tie)
	}
}

func TestDropOverlaps(t *testing.T) {
	hit := func(kb, doc string, seq, start, end int) Hit {
		return Hit{KB: kb, Chunk: ingest.Chunk{ID: fmt.Sprintf("%s:%d", doc, seq), DocID: doc, Seq: seq, Start: start, End: end}}
	}
	hits := []Hit{
		hit("k", "d", 3, 300, 420), // kept
		hit("k", "d", 4, 400, 520), // adjacent and overlapping the better one: dropped
		hit("k", "d", 2, 200, 300), // adjacent but touching only: kept
		hit("k", "d", 5, 500, 620), // overlaps the dropped seq 4 only: kept
		hit("k", "e", 4, 400, 520), // other document: kept
		hit("j", "d", 4, 400, 520), // other knowledge base: kept
		hit("k", "d", 6, 0, 0),     // no span recorded: kept
		hit("k", "d", 9, 310, 330), // overlapping but not adjacent: kept
	}
	got := dropOverlaps(hits)
	var ids []string
	for _, h := range got {
		ids = append(ids, h.KB+"/"+h.Chunk.ID)
	}
	want := "[k/d:3 k/d:2 k/d:5 k/e:4 j/d:4 k/d:6 k/d:9]"
	if fmt.Sprint(ids) != want {
		t.Errorf("dropOverlaps = %v, want %s", ids, want)
	}
}

// TestHybridSearchScores checks that a real search reports ranks and scores
// that follow the fusion formula, and that fused order beats either list
// alone on a query whose words are split across chunks.
func TestHybridSearchScores(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "kb")
	texts := []string{
		"一线城市 部门经理 住宿标准 每晚 七百元",
		"二线城市 部门经理 住宿标准 每晚 五百元",
		"一线城市 普通员工 住宿标准 每晚 四百元",
		"出差 交通 飞机 经济舱",
		"年假 病假 事假 规定",
		"报销 单据 发票 提交 期限",
	}
	for i, tx := range texts {
		mustPut(t, s, testDoc("kb", fmt.Sprint("d", i), fmt.Sprint("h", i)), textChunks(tx))
	}
	w := Weights{Lexical: 1, Dense: 0.5}
	hits, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "一线城市部门经理住宿标准", K: 4, Weights: w})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 4 || hits[0].Chunk.DocID != "d0" {
		t.Fatalf("hits = %+v, want d0 first of 4", hits)
	}
	for _, h := range hits {
		want := 0.0
		if h.LexicalRank > 0 {
			want += w.Lexical / (60 + float64(h.LexicalRank))
		}
		if h.DenseRank > 0 {
			want += w.Dense / (60 + float64(h.DenseRank))
		}
		if math.Abs(h.Score-want) > 1e-12 || want == 0 {
			t.Errorf("%s: score %.6f, ranks %d/%d give %.6f", h.Chunk.ID, h.Score, h.LexicalRank, h.DenseRank, want)
		}
	}
	if hits[0].LexicalRank != 1 || hits[0].DenseRank != 1 {
		t.Errorf("best hit ranks = %d/%d, want 1/1", hits[0].LexicalRank, hits[0].DenseRank)
	}
	lexOnly, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "一线城市部门经理住宿标准", K: 4, Mode: ModeLexical})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range lexOnly {
		if h.DenseRank != 0 || h.LexicalRank == 0 || h.Score != 1/(60+float64(h.LexicalRank)) {
			t.Errorf("lexical-only hit %+v", h)
		}
	}
}

// TestSearchDropsOverlappingNeighbours stores a document whose adjacent
// chunks overlap (as the splitter's overlap window makes them) and checks
// that a search returns the better-ranked one only, while a non-adjacent
// chunk of the same document is still returned.
func TestSearchDropsOverlappingNeighbours(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	mustCreateKB(t, s, "kb")
	chunks := []ingest.Chunk{
		{Text: "差旅 住宿 标准 一线城市 七百元", Start: 0, End: 20},
		{Text: "一线城市 七百元 住宿 另行 审批", Start: 12, End: 32}, // overlaps chunk 0
		{Text: "无关 内容 填充", Start: 32, End: 40},
		{Text: "住宿 标准 二线城市 五百元", Start: 40, End: 55},
	}
	mustPut(t, s, testDoc("kb", "d", "h"), chunks)
	hits, err := s.Search(ctx, Query{KBs: []string{"kb"}, Text: "住宿 一线城市 七百元", K: 5, Mode: ModeLexical})
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[int]bool{}
	for _, h := range hits {
		seqs[h.Chunk.Seq] = true
	}
	if seqs[0] == seqs[1] {
		t.Errorf("hits %v: want exactly one of the overlapping chunks 0 and 1", seqs)
	}
	if !seqs[3] {
		t.Errorf("hits %v: the non-adjacent chunk 3 was dropped", seqs)
	}
}
