package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"zhiwen/generation/llm"
	"zhiwen/ingest"
	"zhiwen/retrieval"
)

// app holds what the commands share: the data directory, configuration and
// the opened store.
type app struct {
	home  string
	cfg   config
	store *retrieval.LocalStore
	// embedder is the model embedder when one is configured.
	embedder *llm.Embedder
}

// openApp opens the data directory and the knowledge-base store.
func openApp(ctx context.Context) (*app, error) {
	home, err := homeDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", home, err)
	}
	cfg, err := loadConfig(home)
	if err != nil {
		return nil, err
	}
	opts := retrieval.Options{}
	a := &app{home: home, cfg: cfg}
	if cfg.EmbeddingModel != "" {
		emb, err := llm.OpenEmbedder(cfg.EmbeddingModel)
		if err != nil {
			return nil, fmt.Errorf("embedding model: %w", err)
		}
		emb.QueryPrefix = cfg.EmbeddingQueryPrefix
		a.embedder = emb
		// New knowledge bases use the model; old ones keep the hash embedder.
		opts.Embedder = emb
		opts.Embedders = []retrieval.Embedder{retrieval.NewHashEmbedder(0)}
	}
	if cfg.DenseWeight > 0 {
		opts.Weights = retrieval.Weights{Lexical: 1, Dense: cfg.DenseWeight}
	}
	store, err := retrieval.Open(filepath.Join(home, "store"), opts)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("open store in %s: %w", home, err)
	}
	a.store = store
	return a, nil
}

func (a *app) Close() error {
	var err error
	if a.store != nil {
		err = a.store.Close()
	}
	if a.embedder != nil {
		a.embedder.Close()
	}
	return err
}

// pipeline returns an ingest pipeline over the store with the configured limits.
func (a *app) pipeline() *ingest.Pipeline {
	p := ingest.NewPipeline(a.store)
	if a.cfg.MaxUploadMB > 0 {
		p.Limits.MaxFileBytes = a.cfg.MaxUploadMB << 20
	}
	if a.cfg.ChunkSize > 0 {
		p.Split.ChunkSize = a.cfg.ChunkSize
	}
	if a.cfg.ChunkOverlap >= 0 {
		p.Split.Overlap = a.cfg.ChunkOverlap
	}
	return p
}
