// Package generation answers questions from a knowledge base: it retrieves
// passages, builds a grounded prompt, streams the model's answer and returns
// the passages it cited. Without a generative model it answers extractively.
package generation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"zhiwen/retrieval"
)

// Retriever finds passages; retrieval.Store implements it.
type Retriever interface {
	Search(ctx context.Context, q retrieval.Query) ([]retrieval.Hit, error)
}

// Source is one retrieved passage as the answer cites it.
type Source struct {
	// N is the passage's number in the prompt: the answer cites it as [N].
	N        int      `json:"n"`
	KB       string   `json:"kb"`
	DocID    string   `json:"doc_id"`
	DocName  string   `json:"doc_name"`
	ChunkID  string   `json:"chunk_id"`
	Page     int      `json:"page,omitempty"`
	Headings []string `json:"headings,omitempty"`
	// Text is the passage text given to the model.
	Text string `json:"text"`
	// Snippet is a short excerpt for display.
	Snippet string  `json:"snippet"`
	Score   float64 `json:"score"`
}

// Answer is a complete answer.
type Answer struct {
	ConversationID string `json:"conversation_id,omitempty"`
	Question       string `json:"question"`
	// Query is the standalone question actually searched (a follow-up rewritten with its context).
	Query string `json:"query"`
	Text  string `json:"text"`
	// Citations are the passages the answer cites, in order of first citation.
	Citations []Source `json:"citations"`
	// Refused is true when the passages did not support an answer.
	Refused bool   `json:"refused"`
	Backend string `json:"backend"`
	Usage   Usage  `json:"usage"`
	// Elapsed is the total time taken, in milliseconds.
	ElapsedMS int64 `json:"elapsed_ms"`
}

// Request is one question.
type Request struct {
	// KBs are the knowledge bases to search.
	KBs      []string
	Question string
	// History holds the earlier turns of the conversation, oldest first.
	// Service.Ask fills it from the conversation store when ConversationID is set.
	History []Message
	// ConversationID continues a stored conversation; empty starts a new one
	// when the service has a conversation store.
	ConversationID string
	// TopK is how many passages to retrieve (default 5).
	TopK int
	// Mode is the retrieval mode (default hybrid).
	Mode   retrieval.Mode
	Filter retrieval.Filter
	// Model selects a model or base+adapter on the backend; empty is the default.
	Model       string
	MaxTokens   int
	Temperature float64
	Seed        *int64
}

// Event is one step of a streamed answer.
type Event struct {
	// Type is "query" (the search query is known), "sources" (the retrieved
	// passages), "delta" (a piece of answer text), or "done" (Answer is set).
	Type    string   `json:"type"`
	Query   string   `json:"query,omitempty"`
	Delta   string   `json:"delta,omitempty"`
	Sources []Source `json:"sources,omitempty"`
	Answer  *Answer  `json:"answer,omitempty"`
}

// Service answers questions. Backend may be nil: answers are then extractive.
type Service struct {
	Retriever Retriever
	Backend   Backend
	// Conversations stores multi-turn history; nil keeps none.
	Conversations *Conversations
	Extractive    Extractive
	// AnswerTokens is the token budget left for the answer (default 1024).
	AnswerTokens int
	Logger       *slog.Logger
}

// ErrBadRequest marks a request the caller must fix.
var ErrBadRequest = errors.New("bad request")

// Ask answers req, calling emit (which may be nil) with each event as it
// happens, and returns the final answer. The turn is appended to the
// conversation when the service has a conversation store.
func (s *Service) Ask(ctx context.Context, req Request, emit func(Event) error) (*Answer, error) {
	start := time.Now()
	if emit == nil {
		emit = func(Event) error { return nil }
	}
	req.Question = strings.TrimSpace(req.Question)
	if req.Question == "" {
		return nil, fmt.Errorf("%w: empty question", ErrBadRequest)
	}
	if len(req.KBs) == 0 {
		return nil, fmt.Errorf("%w: no knowledge base selected", ErrBadRequest)
	}
	if req.TopK <= 0 {
		req.TopK = 5
	}
	if s.Conversations != nil {
		if req.ConversationID == "" {
			c, err := s.Conversations.Create(req.KBs, req.Question)
			if err != nil {
				return nil, err
			}
			req.ConversationID = c.ID
		} else {
			c, err := s.Conversations.Get(req.ConversationID)
			if err != nil {
				return nil, err
			}
			req.History = c.History()
		}
	}

	query := s.standaloneQuery(ctx, req)
	if err := emit(Event{Type: "query", Query: query}); err != nil {
		return nil, err
	}
	hits, err := s.Retriever.Search(ctx, retrieval.Query{KBs: req.KBs, Text: query, K: req.TopK, Mode: req.Mode, Filter: req.Filter})
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	sources := sourcesFromHits(hits)
	if err := emit(Event{Type: "sources", Sources: sources}); err != nil {
		return nil, err
	}

	ans := &Answer{ConversationID: req.ConversationID, Question: req.Question, Query: query}
	if s.Backend == nil {
		ans.Backend = "extractive"
		text, refused := s.Extractive.Answer(query, sources)
		// Stream it in small pieces so clients see the same protocol as with a model.
		for _, piece := range splitForStreaming(text) {
			if err := emit(Event{Type: "delta", Delta: piece}); err != nil {
				return nil, err
			}
		}
		ans.Text, ans.Refused = text, refused
	} else {
		ans.Backend = s.Backend.Name()
		if err := s.generate(ctx, req, sources, ans, emit); err != nil {
			return nil, err
		}
	}
	ans.Citations = citedSources(ans.Text, sources)
	if ans.Refused {
		ans.Citations = nil
	}
	ans.ElapsedMS = time.Since(start).Milliseconds()
	if s.Conversations != nil {
		if err := s.Conversations.Append(req.ConversationID, Turn{
			Question: req.Question, Query: query, Answer: ans.Text, Citations: ans.Citations, Refused: ans.Refused, Created: time.Now().UTC(),
		}); err != nil {
			return nil, err
		}
	}
	if err := emit(Event{Type: "done", Answer: ans}); err != nil {
		return nil, err
	}
	return ans, nil
}

func (s *Service) generate(ctx context.Context, req Request, sources []Source, ans *Answer, emit func(Event) error) error {
	answerBudget := s.AnswerTokens
	if answerBudget <= 0 {
		answerBudget = 1024
	}
	if req.MaxTokens > 0 {
		answerBudget = req.MaxTokens
	}
	budget := s.Backend.ContextTokens() - answerBudget
	msgs := BuildPrompt(req.Question, sources, req.History, budget, s.Backend.CountTokens)
	var b strings.Builder
	usage, err := s.Backend.Chat(ctx, ChatRequest{
		Messages: msgs, MaxTokens: answerBudget, Temperature: req.Temperature, Seed: req.Seed, Model: req.Model,
	}, func(delta string) error {
		b.WriteString(delta)
		return emit(Event{Type: "delta", Delta: delta})
	})
	if err != nil {
		return fmt.Errorf("generate with %s: %w", s.Backend.Name(), err)
	}
	ans.Text = strings.TrimSpace(b.String())
	ans.Usage = usage
	ans.Refused = IsRefusal(ans.Text)
	return nil
}

// IsRefusal reports whether an answer says the passages do not support it.
func IsRefusal(text string) bool {
	t := strings.TrimSpace(text)
	return strings.Contains(t, "无法回答该问题") || strings.HasPrefix(t, RefusalEN[:40])
}

// standaloneQuery rewrites a follow-up question into one that can be
// searched on its own. With a model it asks the model; without one, a
// follow-up that leans on the previous turn (a pronoun, an ellipsis, or a
// very short question) is prefixed with the previous standalone question.
func (s *Service) standaloneQuery(ctx context.Context, req Request) string {
	var prevQ string
	for i := len(req.History) - 1; i >= 0; i-- {
		if req.History[i].Role == "user" {
			prevQ = req.History[i].Content
			break
		}
	}
	if prevQ == "" {
		return req.Question
	}
	if s.Backend != nil {
		msgs := RewritePrompt(req.History, req.Question)
		var b strings.Builder
		_, err := s.Backend.Chat(ctx, ChatRequest{Messages: msgs, MaxTokens: 96, Model: req.Model}, func(d string) error {
			b.WriteString(d)
			return nil
		})
		if q := strings.TrimSpace(b.String()); err == nil && q != "" && !strings.Contains(q, "\n") {
			return q
		}
		if err != nil && s.Logger != nil {
			s.Logger.Warn("follow-up rewrite failed; using heuristic", "err", err)
		}
	}
	if dependsOnContext(req.Question) {
		return prevQ + " " + req.Question
	}
	return req.Question
}

var contextCues = []string{"它", "其", "这", "那", "他", "她", "该", "此", "上述", "上面", "前者", "后者", "呢", "还有", "另外"}

var englishCues = regexp.MustCompile(`(?i)\b(it|its|they|them|their|this|that|those|these|he|she|what about|how about|and)\b`)

func dependsOnContext(q string) bool {
	if len([]rune(q)) <= 6 {
		return true
	}
	for _, c := range contextCues {
		if strings.Contains(q, c) {
			return true
		}
	}
	return englishCues.MatchString(q)
}

func sourcesFromHits(hits []retrieval.Hit) []Source {
	out := make([]Source, len(hits))
	for i, h := range hits {
		out[i] = Source{
			N: i + 1, KB: h.KB, DocID: h.Chunk.DocID, DocName: h.DocName, ChunkID: h.Chunk.ID,
			Page: h.Chunk.Page, Headings: h.Chunk.Headings, Text: h.Chunk.Text,
			Snippet: snippet(h.Chunk.Text, 160), Score: h.Score,
		}
	}
	return out
}

func snippet(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	r := []rune(text)
	if len(r) <= n {
		return text
	}
	return string(r[:n]) + "…"
}

var citeRE = regexp.MustCompile(`\[(\d{1,3})(?:\s*[,，]\s*(\d{1,3}))*\]`)
var citeNumRE = regexp.MustCompile(`\d{1,3}`)

// citedSources returns the sources the text cites as [n] (or [n, m]), in
// order of first citation; a source never cited is not returned.
func citedSources(text string, sources []Source) []Source {
	byN := map[int]Source{}
	for _, s := range sources {
		byN[s.N] = s
	}
	seen := map[int]bool{}
	var out []Source
	for _, m := range citeRE.FindAllString(text, -1) {
		for _, num := range citeNumRE.FindAllString(m, -1) {
			n, _ := strconv.Atoi(num)
			if s, ok := byN[n]; ok && !seen[n] {
				seen[n] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// splitForStreaming cuts text into short pieces at rune boundaries.
func splitForStreaming(text string) []string {
	r := []rune(text)
	var out []string
	for i := 0; i < len(r); i += 8 {
		out = append(out, string(r[i:min(i+8, len(r))]))
	}
	return out
}
