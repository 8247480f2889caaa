package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"zhiwen/generation"
	"zhiwen/retrieval"
)

// kbModelPrefix selects a knowledge base by model name: "kb:hr-policies".
const kbModelPrefix = "kb:"

func sseHeaders(c *gin.Context) {
	c.Header("Content-Type", "text/event-stream; charset=utf-8")
	c.Header("Cache-Control", "no-cache")
	c.Header("Connection", "keep-alive")
	c.Header("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
}

// writeSSE writes one event with a JSON payload and flushes it.
func writeSSE(c *gin.Context, event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if event != "" {
		fmt.Fprintf(c.Writer, "event: %s\n", event)
	}
	fmt.Fprintf(c.Writer, "data: %s\n\n", b)
	c.Writer.Flush()
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) backendName() string {
	if s.cfg.Answers != nil && s.cfg.Answers.Backend != nil {
		return s.cfg.Answers.Backend.Name()
	}
	return "extractive"
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// listModels lists the generative backend's model, one "base+adapter"
// model per adapter it can apply, and one model per knowledge base
// ("kb:NAME").
func (s *Server) listModels(c *gin.Context) {
	kbs, err := s.cfg.Store.KBs(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	data := []modelObject{}
	if s.cfg.Answers != nil && s.cfg.Answers.Backend != nil {
		data = append(data, modelObject{ID: s.cfg.Answers.Backend.Name(), Object: "model", Created: s.started.Unix(), OwnedBy: "zhiwen"})
	}
	data = append(data, s.adapterModels()...)
	for _, kb := range kbs {
		data = append(data, modelObject{ID: kbModelPrefix + kb.Name, Object: "model", Created: kb.Created.Unix(), OwnedBy: "zhiwen"})
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data})
}

// chatCompletionRequest is OpenAI's request body plus Zhiwen's extra fields.
type chatCompletionRequest struct {
	Model       string               `json:"model"`
	Messages    []generation.Message `json:"messages"`
	Stream      bool                 `json:"stream"`
	MaxTokens   int                  `json:"max_tokens"`
	Temperature *float64             `json:"temperature"`
	Seed        *int64               `json:"seed"`
	// KB (or KnowledgeBase) selects knowledge bases when the model name does not.
	KB            string   `json:"kb"`
	KBs           []string `json:"kbs"`
	KnowledgeBase string   `json:"knowledge_base"`
	// Adapter selects adapters ("law", "law+style@0.5") when the model name
	// does not; by default a knowledge base's DefaultAdapter applies.
	Adapter string `json:"adapter"`
	TopK    int    `json:"top_k"`
	// ConversationID continues a server-side conversation; without it the
	// messages carry the history, as with any OpenAI client.
	ConversationID string `json:"conversation_id"`
}

// citation is a source as returned in the extra "citations" field.
type citation = generation.Source

type chatCompletion struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	Created   int64             `json:"created"`
	Model     string            `json:"model"`
	Choices   []chatChoice      `json:"choices"`
	Usage     *generation.Usage `json:"usage,omitempty"`
	Citations []citation        `json:"citations"`
	// ConversationID is set when the server stored the turn.
	ConversationID string `json:"conversation_id,omitempty"`
}

type chatChoice struct {
	Index        int                 `json:"index"`
	Message      *generation.Message `json:"message,omitempty"`
	Delta        *generation.Message `json:"delta,omitempty"`
	FinishReason *string             `json:"finish_reason"`
}

// chatCompletions answers the last user message from the selected
// knowledge bases, OpenAI-style; earlier messages are the history.
func (s *Server) chatCompletions(c *gin.Context) {
	var req chatCompletionRequest
	if !s.bindJSON(c, &req) {
		return
	}
	if len(req.Messages) == 0 {
		abortError(c, http.StatusBadRequest, "invalid", "messages must not be empty")
		return
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" || strings.TrimSpace(last.Content) == "" {
		abortError(c, http.StatusBadRequest, "invalid", "the last message must be a non-empty user message")
		return
	}
	kbs := req.KBs
	for _, k := range []string{req.KB, req.KnowledgeBase} {
		if k != "" {
			kbs = append(kbs, k)
		}
	}
	model := req.Model
	if strings.HasPrefix(model, kbModelPrefix) {
		for _, k := range strings.Split(strings.TrimPrefix(model, kbModelPrefix), ",") {
			if k = strings.TrimSpace(k); k != "" {
				kbs = append(kbs, k)
			}
		}
		model = ""
	}
	if len(kbs) == 0 {
		abortError(c, http.StatusBadRequest, "invalid", `select a knowledge base: model "kb:NAME" or the field "kb"`)
		return
	}
	for _, k := range kbs {
		if _, err := s.cfg.Store.KB(c.Request.Context(), k); err != nil {
			s.fail(c, err)
			return
		}
	}
	model, err := s.resolveModel(c.Request.Context(), model, req.Adapter, kbs)
	if err != nil {
		s.fail(c, err)
		return
	}
	var history []generation.Message
	for _, m := range req.Messages[:len(req.Messages)-1] {
		if m.Role == "user" || m.Role == "assistant" {
			history = append(history, m)
		}
	}
	areq := generation.Request{
		KBs: kbs, Question: last.Content, History: history, TopK: req.TopK, Model: model,
		MaxTokens: req.MaxTokens, Seed: req.Seed, ConversationID: req.ConversationID,
	}
	if req.Temperature != nil {
		areq.Temperature = *req.Temperature
	}
	id := newID("chatcmpl-")
	created := time.Now().Unix()
	respModel := req.Model
	if respModel == "" {
		respModel = kbModelPrefix + strings.Join(kbs, ",")
	}
	svc := s.answerService(req.ConversationID != "")

	if !req.Stream {
		ans, err := svc.Ask(c.Request.Context(), areq, nil)
		if err != nil {
			s.fail(c, err)
			return
		}
		s.metrics.answered(ans.Backend, ans.Refused)
		stop := "stop"
		out := chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: respModel,
			Choices:        []chatChoice{{Message: &generation.Message{Role: "assistant", Content: ans.Text}, FinishReason: &stop}},
			Usage:          usageOf(ans),
			Citations:      nonNil(ans.Citations),
			ConversationID: ans.ConversationID,
		}
		c.JSON(http.StatusOK, out)
		return
	}

	sseHeaders(c)
	chunk := func(delta *generation.Message, finish *string) chatCompletion {
		return chatCompletion{ID: id, Object: "chat.completion.chunk", Created: created, Model: respModel,
			Choices: []chatChoice{{Delta: delta, FinishReason: finish}}}
	}
	writeSSE(c, "", chunk(&generation.Message{Role: "assistant"}, nil))
	ans, err := svc.Ask(c.Request.Context(), areq, func(ev generation.Event) error {
		if ev.Type == "delta" {
			writeSSE(c, "", chunk(&generation.Message{Content: ev.Delta}, nil))
		}
		return c.Request.Context().Err()
	})
	if err != nil {
		// Headers are sent: report the error in the stream, as OpenAI does.
		var e apiError
		e.Error.Code, e.Error.Type, e.Error.Message = "internal", "server_error", err.Error()
		if errors.Is(err, context.Canceled) {
			return
		}
		writeSSE(c, "", e)
		fmt.Fprint(c.Writer, "data: [DONE]\n\n")
		c.Writer.Flush()
		return
	}
	s.metrics.answered(ans.Backend, ans.Refused)
	stop := "stop"
	final := chunk(&generation.Message{}, &stop)
	final.Citations = nonNil(ans.Citations)
	final.Usage = usageOf(ans)
	final.ConversationID = ans.ConversationID
	writeSSE(c, "", final)
	fmt.Fprint(c.Writer, "data: [DONE]\n\n")
	c.Writer.Flush()
}

// answerService returns the answering service; without stored
// conversations the history comes from the request alone.
func (s *Server) answerService(stored bool) *generation.Service {
	if stored || s.cfg.Answers == nil {
		return s.cfg.Answers
	}
	svc := *s.cfg.Answers
	svc.Conversations = nil
	return &svc
}

func usageOf(a *generation.Answer) *generation.Usage {
	u := a.Usage
	if u.TotalTokens == 0 {
		u.CompletionTokens = generation.EstimateTokens(a.Text)
		u.PromptTokens = generation.EstimateTokens(a.Question)
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return &u
}

func nonNil(s []generation.Source) []generation.Source {
	if s == nil {
		return []generation.Source{}
	}
	return s
}

// chatRequest is the body of the native POST /api/chat.
type chatRequest struct {
	KB             string   `json:"kb"`
	KBs            []string `json:"kbs"`
	Question       string   `json:"question"`
	ConversationID string   `json:"conversation_id"`
	TopK           int      `json:"top_k"`
	Mode           string   `json:"mode"`
	// Model selects the backend model or adapters ("+law"); Adapter adds
	// adapters; by default the knowledge base's DefaultAdapter applies.
	Model   string `json:"model"`
	Adapter string `json:"adapter"`
	Stream  bool   `json:"stream"`
}

// chat is the native answering endpoint used by the web UI. With stream it
// sends server-sent events: "query", "sources", "delta" pieces and "done"
// with the whole answer and its citations; conversations are stored.
func (s *Server) chat(c *gin.Context) {
	var req chatRequest
	if !s.bindJSON(c, &req) {
		return
	}
	kbs := req.KBs
	if req.KB != "" {
		kbs = append([]string{req.KB}, kbs...)
	}
	mode, err := retrieval.ParseMode(req.Mode)
	if err != nil {
		s.fail(c, err)
		return
	}
	for _, k := range kbs {
		if _, err := s.cfg.Store.KB(c.Request.Context(), k); err != nil {
			s.fail(c, err)
			return
		}
	}
	model := req.Model
	if len(kbs) > 0 {
		if model, err = s.resolveModel(c.Request.Context(), model, req.Adapter, kbs); err != nil {
			s.fail(c, err)
			return
		}
	}
	areq := generation.Request{KBs: kbs, Question: req.Question, ConversationID: req.ConversationID, TopK: req.TopK, Mode: mode, Model: model}
	if !req.Stream {
		ans, err := s.cfg.Answers.Ask(c.Request.Context(), areq, nil)
		if err != nil {
			s.fail(c, err)
			return
		}
		s.metrics.answered(ans.Backend, ans.Refused)
		c.JSON(http.StatusOK, ans)
		return
	}
	// Validate before committing to a stream, so bad input still gets a 4xx.
	if strings.TrimSpace(req.Question) == "" || len(kbs) == 0 {
		abortError(c, http.StatusBadRequest, "invalid", "question and kb are required")
		return
	}
	if req.ConversationID != "" && s.cfg.Conversations != nil {
		if _, err := s.cfg.Conversations.Get(req.ConversationID); err != nil {
			s.fail(c, err)
			return
		}
	}
	sseHeaders(c)
	ans, err := s.cfg.Answers.Ask(c.Request.Context(), areq, func(ev generation.Event) error {
		writeSSE(c, ev.Type, ev)
		return c.Request.Context().Err()
	})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			writeSSE(c, "error", gin.H{"type": "error", "message": err.Error()})
		}
		return
	}
	s.metrics.answered(ans.Backend, ans.Refused)
}

func (s *Server) listConversations(c *gin.Context) {
	if s.cfg.Conversations == nil {
		c.JSON(http.StatusOK, gin.H{"conversations": []generation.Conversation{}})
		return
	}
	list, err := s.cfg.Conversations.List()
	if err != nil {
		s.fail(c, err)
		return
	}
	if list == nil {
		list = []generation.Conversation{}
	}
	c.JSON(http.StatusOK, gin.H{"conversations": list})
}

func (s *Server) getConversation(c *gin.Context) {
	if s.cfg.Conversations == nil {
		abortError(c, http.StatusNotFound, "not_found", "conversations are not stored on this server")
		return
	}
	conv, err := s.cfg.Conversations.Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

func (s *Server) deleteConversation(c *gin.Context) {
	if s.cfg.Conversations == nil {
		abortError(c, http.StatusNotFound, "not_found", "conversations are not stored on this server")
		return
	}
	if err := s.cfg.Conversations.Delete(c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// embeddings serves OpenAI's /v1/embeddings with the built-in (or configured) embedder.
func (s *Server) embeddings(c *gin.Context) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	if s.cfg.Embedder == nil {
		abortError(c, http.StatusServiceUnavailable, "no_embedder", "no embedder is configured")
		return
	}
	var inputs []string
	var one string
	if err := json.Unmarshal(req.Input, &one); err == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(req.Input, &inputs); err != nil {
		abortError(c, http.StatusBadRequest, "invalid", "input must be a string or an array of strings")
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		abortError(c, http.StatusBadRequest, "invalid", `encoding_format must be "float" or "base64"`)
		return
	}
	if len(inputs) == 0 || len(inputs) > 2048 {
		abortError(c, http.StatusBadRequest, "invalid", "input must hold 1 to 2048 strings")
		return
	}
	vecs, err := s.cfg.Embedder.EmbedDocuments(c.Request.Context(), inputs)
	if err != nil {
		s.fail(c, err)
		return
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, len(vecs))
	tokens := 0
	for i, v := range vecs {
		data[i] = item{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			raw := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(raw)
		}
		tokens += generation.EstimateTokens(inputs[i])
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data, "model": s.cfg.Embedder.Name(),
		"usage": gin.H{"prompt_tokens": tokens, "total_tokens": tokens}})
}
