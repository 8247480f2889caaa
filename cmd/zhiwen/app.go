package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"zhiwen/ingest"
	"zhiwen/retrieval"
)

// app holds what the commands share: the data directory, configuration and
// the opened store.
type app struct {
	home  string
	cfg   config
	store *retrieval.LocalStore
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
	store, err := retrieval.Open(filepath.Join(home, "store"), retrieval.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", home, err)
	}
	return &app{home: home, cfg: cfg, store: store}, nil
}

func (a *app) Close() error { return a.store.Close() }

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
