package retrieval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"zhiwen/ingest"
)

// EvalQuestion is one retrieval test question.
type EvalQuestion struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	// RelevantDocs are the IDs of the documents that answer the question.
	RelevantDocs []string `json:"relevant_docs"`
	// Answers are gold answer strings, for strict recall.
	Answers []string `json:"answers,omitempty"`
}

// EvalReport holds metrics averaged over the questions.
//
// Relevance is binary: a hit is relevant when its chunk's document is one of
// the question's RelevantDocs.
//   - Recall@k: the fraction of relevant documents with a chunk in the top k.
//   - MRR@10: 1/rank of the first relevant hit in the top 10, else 0.
//   - nDCG@10: DCG = Σ_{i≤10} rel_i / log2(i+1); the ideal ranking puts all
//     chunks of the relevant documents (at most 10) first.
//   - Strict recall@k: 1 when a relevant hit in the top k contains one of the
//     gold answers, else 0 (questions without answers count 0).
type EvalReport struct {
	Mode      Mode `json:"mode"`
	K         int  `json:"k"`
	Questions int  `json:"questions"`

	RecallAt1  float64 `json:"recall_at_1"`
	RecallAt5  float64 `json:"recall_at_5"`
	RecallAt10 float64 `json:"recall_at_10"`
	// RecallAtK is recall at the K the evaluation was run with.
	RecallAtK float64 `json:"recall_at_k"`
	MRR10     float64 `json:"mrr_at_10"`
	NDCG10    float64 `json:"ndcg_at_10"`

	StrictRecallAt1  float64 `json:"strict_recall_at_1"`
	StrictRecallAt5  float64 `json:"strict_recall_at_5"`
	StrictRecallAt10 float64 `json:"strict_recall_at_10"`

	// LatencyP50 and LatencyP99 are per-query search latencies.
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP99 time.Duration `json:"latency_p99"`
}

// String formats the report on one line.
func (r EvalReport) String() string {
	return fmt.Sprintf("%s n=%d R@1 %.4f R@5 %.4f R@10 %.4f MRR@10 %.4f nDCG@10 %.4f | strict R@1 %.4f R@5 %.4f R@10 %.4f | p50 %v p99 %v",
		r.Mode, r.Questions, r.RecallAt1, r.RecallAt5, r.RecallAt10, r.MRR10, r.NDCG10,
		r.StrictRecallAt1, r.StrictRecallAt5, r.StrictRecallAt10, r.LatencyP50, r.LatencyP99)
}

// questionScores are one question's metrics.
type questionScores struct {
	recall        map[int]float64 // by k
	strict        map[int]float64
	mrr10, ndcg10 float64
}

// scoreQuestion computes a question's metrics from its ranked hits.
// relevantChunks is the number of chunks the relevant documents hold
// (the ideal ranking for nDCG); ks are the cut-offs for recall.
func scoreQuestion(q EvalQuestion, hits []Hit, relevantChunks int, ks []int) questionScores {
	sc := questionScores{recall: map[int]float64{}, strict: map[int]float64{}}
	relevant := make(map[string]bool, len(q.RelevantDocs))
	for _, d := range q.RelevantDocs {
		relevant[d] = true
	}
	firstRank := map[string]int{} // relevant doc → rank of its first hit
	strictRank := 0
	var dcg float64
	for i, h := range hits {
		rank := i + 1
		if !relevant[h.Chunk.DocID] {
			continue
		}
		if _, ok := firstRank[h.Chunk.DocID]; !ok {
			firstRank[h.Chunk.DocID] = rank
		}
		if rank <= 10 {
			dcg += 1 / math.Log2(float64(rank+1))
			if sc.mrr10 == 0 {
				sc.mrr10 = 1 / float64(rank)
			}
		}
		if strictRank == 0 && containsAnswer(h.Chunk.Text, q.Answers) {
			strictRank = rank
		}
	}
	var idcg float64
	for i := 1; i <= min(relevantChunks, 10); i++ {
		idcg += 1 / math.Log2(float64(i+1))
	}
	if idcg > 0 {
		sc.ndcg10 = dcg / idcg
	}
	for _, k := range ks {
		if len(relevant) > 0 {
			found := 0
			for _, r := range firstRank {
				if r <= k {
					found++
				}
			}
			sc.recall[k] = float64(found) / float64(len(relevant))
		}
		if strictRank > 0 && strictRank <= k {
			sc.strict[k] = 1
		}
	}
	return sc
}

// containsAnswer reports whether text contains one of the non-empty answers.
func containsAnswer(text string, answers []string) bool {
	for _, a := range answers {
		if a = strings.TrimSpace(a); a != "" && strings.Contains(text, a) {
			return true
		}
	}
	return false
}

// Evaluate asks every question of qs against knowledge base kb in the given
// mode, retrieving max(k, 10) hits, and averages the metrics described on
// EvalReport.
func Evaluate(ctx context.Context, s Store, kb string, qs []EvalQuestion, mode Mode, k int) (EvalReport, error) {
	if len(qs) == 0 {
		return EvalReport{}, fmt.Errorf("evaluate %q: no questions: %w", kb, ErrInvalid)
	}
	if k <= 0 {
		k = 10
	}
	depth := max(k, 10)
	ks := []int{1, 5, 10, k}
	rep := EvalReport{Mode: mode, K: k, Questions: len(qs)}
	chunkCount := map[string]int{} // document → chunks, from the store
	latencies := make([]time.Duration, 0, len(qs))
	for _, q := range qs {
		if err := ctx.Err(); err != nil {
			return EvalReport{}, fmt.Errorf("evaluate %q: %w", kb, err)
		}
		start := time.Now()
		hits, err := s.Search(ctx, Query{KBs: []string{kb}, Text: q.Text, K: depth, Mode: mode})
		if err != nil {
			return EvalReport{}, fmt.Errorf("evaluate %q: question %s: %w", kb, q.ID, err)
		}
		latencies = append(latencies, time.Since(start))
		relevantChunks := 0
		for _, d := range q.RelevantDocs {
			n, ok := chunkCount[d]
			if !ok {
				info, err := s.Document(ctx, kb, d)
				switch {
				case errors.Is(err, ErrNotFound):
					n = 0
				case err != nil:
					return EvalReport{}, fmt.Errorf("evaluate %q: question %s: %w", kb, q.ID, err)
				default:
					n = info.Chunks
				}
				chunkCount[d] = n
			}
			relevantChunks += n
		}
		sc := scoreQuestion(q, hits, relevantChunks, ks)
		rep.RecallAt1 += sc.recall[1]
		rep.RecallAt5 += sc.recall[5]
		rep.RecallAt10 += sc.recall[10]
		rep.RecallAtK += sc.recall[k]
		rep.StrictRecallAt1 += sc.strict[1]
		rep.StrictRecallAt5 += sc.strict[5]
		rep.StrictRecallAt10 += sc.strict[10]
		rep.MRR10 += sc.mrr10
		rep.NDCG10 += sc.ndcg10
	}
	n := float64(len(qs))
	for _, p := range []*float64{&rep.RecallAt1, &rep.RecallAt5, &rep.RecallAt10, &rep.RecallAtK,
		&rep.StrictRecallAt1, &rep.StrictRecallAt5, &rep.StrictRecallAt10, &rep.MRR10, &rep.NDCG10} {
		*p /= n
	}
	slices.Sort(latencies)
	rep.LatencyP50 = percentile(latencies, 0.50)
	rep.LatencyP99 = percentile(latencies, 0.99)
	return rep, nil
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// CMRCPassage is one passage of a CMRC 2018 file with its questions.
type CMRCPassage struct {
	ContextID   string   `json:"context_id"`
	ContextText string   `json:"context_text"`
	QAs         []CMRCQA `json:"qas"`
}

// CMRCQA is one CMRC question with its gold answers.
type CMRCQA struct {
	QueryID   string   `json:"query_id"`
	QueryText string   `json:"query_text"`
	Answers   []string `json:"answers"`
}

// LoadCMRC reads a CMRC 2018 JSON file: a list of {context_id,
// context_text, qas: [{query_id, query_text, answers}]}. Answers given as
// bare numbers are read as their text.
func LoadCMRC(path string) ([]CMRCPassage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load CMRC: %w", err)
	}
	var raw []struct {
		ContextID   string `json:"context_id"`
		ContextText string `json:"context_text"`
		QAs         []struct {
			QueryID   string            `json:"query_id"`
			QueryText string            `json:"query_text"`
			Answers   []json.RawMessage `json:"answers"`
		} `json:"qas"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("load CMRC %s: %w", path, err)
	}
	out := make([]CMRCPassage, len(raw))
	for i, r := range raw {
		if r.ContextID == "" || strings.TrimSpace(r.ContextText) == "" {
			return nil, fmt.Errorf("load CMRC %s: passage %d has no context_id or context_text", path, i)
		}
		p := CMRCPassage{ContextID: r.ContextID, ContextText: r.ContextText, QAs: make([]CMRCQA, len(r.QAs))}
		for j, qa := range r.QAs {
			if strings.TrimSpace(qa.QueryText) == "" {
				return nil, fmt.Errorf("load CMRC %s: passage %s question %d has no query_text", path, r.ContextID, j)
			}
			answers := make([]string, 0, len(qa.Answers))
			for _, a := range qa.Answers {
				var s string
				if err := json.Unmarshal(a, &s); err != nil {
					s = strings.TrimSpace(string(a)) // a bare number
				}
				answers = append(answers, s)
			}
			p.QAs[j] = CMRCQA{QueryID: qa.QueryID, QueryText: qa.QueryText, Answers: answers}
		}
		out[i] = p
	}
	return out, nil
}

// CMRCQuestions turns CMRC passages into evaluation questions whose
// relevant document is the passage (document ID = context_id, as PutCMRC stores it).
func CMRCQuestions(ps []CMRCPassage) []EvalQuestion {
	var out []EvalQuestion
	for _, p := range ps {
		for _, qa := range p.QAs {
			out = append(out, EvalQuestion{ID: qa.QueryID, Text: qa.QueryText, RelevantDocs: []string{p.ContextID}, Answers: qa.Answers})
		}
	}
	return out
}

// PutCMRC stores every passage as a document of kb (ID and name =
// context_id), chunked by the ingest splitter with opt.
func PutCMRC(ctx context.Context, idx ingest.Index, kb string, ps []CMRCPassage, opt ingest.SplitOptions) error {
	for _, p := range ps {
		sum := sha256.Sum256([]byte(p.ContextText))
		doc := ingest.Document{ID: p.ContextID, KB: kb, Name: p.ContextID, Format: "text",
			Hash: hex.EncodeToString(sum[:]), Size: int64(len(p.ContextText))}
		parsed := &ingest.Parsed{Format: "text", Blocks: []ingest.Block{{Kind: ingest.Paragraph, Text: p.ContextText}}}
		if err := idx.PutDocument(ctx, doc, ingest.Split(parsed, opt), nil); err != nil {
			return fmt.Errorf("put CMRC passage %s: %w", p.ContextID, err)
		}
	}
	return nil
}
