package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"zhiwen/generation"
	"zhiwen/generation/llm"
	"zhiwen/ingest"
	"zhiwen/web"
)

func init() {
	register(&command{
		name: "serve", usage: "[--addr HOST:PORT] [--model FILE]",
		summary: "Run the web UI and the HTTP API (OpenAI-compatible and native).",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			addr := fs.String("addr", "", "listen address (default from config: 127.0.0.1:8080)")
			openaiURL := fs.String("openai-url", "", "answer with an OpenAI-compatible server at this base URL (e.g. http://127.0.0.1:11434/v1)")
			openaiModel := fs.String("openai-model", "", "model name on the OpenAI-compatible server")
			model := fs.String("model", "", "answer with this GGUF model on the local runtime (default from config: model)")
			return func(ctx context.Context, args []string) error {
				a, err := openApp(ctx)
				if err != nil {
					return err
				}
				defer a.Close()
				if *addr != "" {
					a.cfg.Listen = *addr
				}
				if *openaiURL != "" {
					a.cfg.OpenAIBaseURL = *openaiURL
				}
				if *openaiModel != "" {
					a.cfg.OpenAIModel = *openaiModel
				}
				if *model != "" {
					a.cfg.Model = *model
					if *openaiURL == "" {
						a.cfg.OpenAIBaseURL = ""
					}
				}
				srv, cleanup, err := a.server()
				if err != nil {
					return err
				}
				defer cleanup()
				fmt.Fprintf(cmdOut, "Zhiwen is serving on http://%s  (data in %s)\n", a.cfg.Listen, a.home)
				return srv.Serve(ctx, a.cfg.Listen, 30*time.Second)
			}
		},
	})
}

// backend picks the generative backend from the configuration: an
// OpenAI-compatible server when one is configured, else the local runtime
// when a model file is, else none (extractive answers). cleanup releases it.
func (a *app) backend() (b generation.Backend, cleanup func(), err error) {
	if a.cfg.OpenAIBaseURL != "" {
		return &generation.OpenAIBackend{BaseURL: a.cfg.OpenAIBaseURL, APIKey: a.cfg.OpenAIAPIKey, Model: a.cfg.OpenAIModel, Context: a.cfg.ContextTokens}, func() {}, nil
	}
	if a.cfg.Model != "" {
		local, err := generation.OpenLocalBackend(a.cfg.Model, llm.LoadOptions{ContextLen: a.cfg.ContextTokens})
		if err != nil {
			return nil, nil, fmt.Errorf("local model: %w", err)
		}
		local.ServeAdapters(a.adapterDir())
		slog.Info("answering with the local runtime", "model", a.cfg.Model, "context", local.ContextTokens(), "adapters", a.adapterDir())
		// Process the grounded system prompt now, not in the first answer.
		go func() {
			start := time.Now()
			if err := local.WarmUpGrounded(context.Background()); err != nil {
				slog.Warn("local model warm-up failed", "err", err)
				return
			}
			slog.Info("local model warmed up", "elapsed", time.Since(start).Round(time.Millisecond))
		}()
		return local, func() { local.Close() }, nil
	}
	return nil, func() {}, nil
}

// server wires the store, the ingest jobs, the answering service and the
// HTTP server together. cleanup closes what server opened besides the store.
func (a *app) server() (*web.Server, func(), error) {
	jobs, err := ingest.OpenJobs(filepath.Join(a.home, "jobs"), a.pipeline(), max(1, a.cfg.IngestWorkers))
	if err != nil {
		return nil, nil, err
	}
	convs, err := generation.OpenConversations(filepath.Join(a.home, "conversations.db"))
	if err != nil {
		jobs.Close()
		return nil, nil, err
	}
	backend, closeBackend, err := a.backend()
	if err != nil {
		jobs.Close()
		convs.Close()
		return nil, nil, err
	}
	svc := &generation.Service{Retriever: a.store, Backend: backend, Conversations: convs, Logger: slog.Default()}
	srv := web.New(web.Config{
		Store: a.store, Jobs: jobs, Answers: svc, Conversations: convs,
		Embedder:       a.store.Embedder(),
		MaxUploadBytes: a.cfg.MaxUploadMB << 20, Version: version,
	})
	return srv, func() { jobs.Close(); convs.Close(); closeBackend() }, nil
}
