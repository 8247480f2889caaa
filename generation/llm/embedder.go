package llm

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"zhiwen/generation/tokenizer"
)

// Embedder turns text into vectors with an encoder model (BERT family, such
// as bge-small-zh). Its method set matches retrieval's Embedder interface.
type Embedder struct {
	loaded *Loaded
	name   string
	// QueryPrefix is prepended to queries (not documents); bge-zh models
	// recommend "为这个句子生成表示以用于检索相关文章：" for short queries.
	QueryPrefix string
}

// OpenEmbedder loads an encoder GGUF file as an Embedder. Close it when done.
func OpenEmbedder(path string) (*Embedder, error) {
	l, err := Load(path, LoadOptions{})
	if err != nil {
		return nil, err
	}
	e, err := NewEmbedder(l, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	if err != nil {
		l.Close()
		return nil, err
	}
	return e, nil
}

// NewEmbedder wraps a loaded encoder model under a display name.
func NewEmbedder(l *Loaded, name string) (*Embedder, error) {
	if l.Encoder == nil {
		return nil, fmt.Errorf("%s: %s is not an embedding model", l.File.Name, l.File.Architecture())
	}
	return &Embedder{loaded: l, name: name}, nil
}

// Name identifies the model (used to key vector collections).
func (e *Embedder) Name() string { return e.name }

// Dim is the embedding width.
func (e *Embedder) Dim() int { return e.loaded.Encoder.Config().Hidden }

// EmbedDocuments embeds each text; vectors are L2-normalized.
func (e *Embedder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v, err := e.embed(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("embed document %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// EmbedQuery embeds a search query (with QueryPrefix).
func (e *Embedder) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	v, err := e.embed(ctx, e.QueryPrefix+text)
	if err != nil {
		return nil, fmt.Errorf("embed query: %w", err)
	}
	return v, nil
}

// Close releases the model file.
func (e *Embedder) Close() error { return e.loaded.Close() }

// embed tokenizes text with [CLS]/[SEP] framing, truncates it to the
// model's context (keeping the final [SEP]), and pools.
func (e *Embedder) embed(ctx context.Context, text string) ([]float32, error) {
	ids := e.loaded.Tokenizer.Encode(text, tokenizer.EncodeOptions{AddSpecial: true})
	if len(ids) == 0 {
		return nil, fmt.Errorf("text %q has no tokens", text)
	}
	if limit := e.loaded.Encoder.Config().ContextLen; len(ids) > limit {
		last := ids[len(ids)-1]
		ids = append(ids[:limit-1:limit-1], last)
	}
	return e.loaded.Encoder.Embed(ctx, ids)
}
