package generation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one turn of a chat.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// ChatRequest asks a backend to continue a chat.
type ChatRequest struct {
	Messages    []Message
	MaxTokens   int
	Temperature float64
	TopP        float64
	Stop        []string
	Seed        *int64
	// Model selects a model or base+adapter on backends that serve several; empty means the default.
	Model string
}

// Usage counts tokens of one request.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Backend is a generative model that continues chats. The local runtime and
// any OpenAI-compatible server implement it.
type Backend interface {
	// Name identifies the backend and its default model, for logs and /v1/models.
	Name() string
	// Chat streams the reply to req, calling emit with each piece of text as
	// it is generated. It returns when the reply is complete, emit returns
	// an error, or ctx ends.
	Chat(ctx context.Context, req ChatRequest, emit func(delta string) error) (Usage, error)
	// ContextTokens is the model's context length in tokens.
	ContextTokens() int
	// CountTokens counts the tokens of text in the model's tokenizer (an estimate is acceptable).
	CountTokens(text string) int
}

// EstimateTokens approximates a token count without a tokenizer: one token
// per CJK character and about one per four other bytes.
func EstimateTokens(text string) int {
	n, other := 0, 0
	for _, r := range text {
		if isCJK(r) {
			n++
		} else {
			other += utf8.RuneLen(r)
		}
	}
	return n + (other+3)/4
}

// OpenAIBackend talks to any OpenAI-compatible chat server (Ollama, vLLM,
// llama.cpp server, a hosted API) at BaseURL, e.g. "http://127.0.0.1:11434/v1".
type OpenAIBackend struct {
	BaseURL string
	APIKey  string
	Model   string
	// Context is the model's context length in tokens (default 8192).
	Context int
	Client  *http.Client
}

// Name implements Backend.
func (b *OpenAIBackend) Name() string { return "openai:" + b.Model }

// ContextTokens implements Backend.
func (b *OpenAIBackend) ContextTokens() int {
	if b.Context > 0 {
		return b.Context
	}
	return 8192
}

// CountTokens implements Backend with an estimate.
func (b *OpenAIBackend) CountTokens(text string) int { return EstimateTokens(text) }

type openAIChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Stream      bool      `json:"stream"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	TopP        *float64  `json:"top_p,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
	// Ask for usage in the final chunk (ignored by servers that do not know it).
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
}

type openAIChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Chat implements Backend by streaming /chat/completions.
func (b *OpenAIBackend) Chat(ctx context.Context, req ChatRequest, emit func(string) error) (Usage, error) {
	model := b.Model
	if req.Model != "" {
		model = req.Model
	}
	body := openAIChatRequest{Model: model, Messages: req.Messages, Stream: true, MaxTokens: req.MaxTokens, Stop: req.Stop, Seed: req.Seed}
	if req.Temperature > 0 {
		body.Temperature = &req.Temperature
	}
	if req.TopP > 0 {
		body.TopP = &req.TopP
	}
	body.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{true}
	buf, err := json.Marshal(body)
	if err != nil {
		return Usage{}, err
	}
	url := strings.TrimRight(b.BaseURL, "/") + "/chat/completions"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
	if err != nil {
		return Usage{}, fmt.Errorf("chat %s: %w", url, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if b.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+b.APIKey)
	}
	client := b.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return Usage{}, fmt.Errorf("chat %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return Usage{}, fmt.Errorf("chat %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	var usage Usage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data:") {
			continue
		}
		data := strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		if data == "[DONE]" {
			return usage, nil
		}
		var chunk openAIChunk
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return usage, fmt.Errorf("chat %s: bad stream chunk: %w", url, err)
		}
		if chunk.Error != nil {
			return usage, fmt.Errorf("chat %s: %s", url, chunk.Error.Message)
		}
		if chunk.Usage != nil {
			usage = *chunk.Usage
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content != "" {
				if err := emit(c.Delta.Content); err != nil {
					return usage, err
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return usage, fmt.Errorf("chat %s: %w", url, err)
	}
	if ctx.Err() != nil {
		return usage, ctx.Err()
	}
	return usage, errors.New("chat " + url + ": stream ended without [DONE]")
}
