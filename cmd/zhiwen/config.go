package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed defaults.json
var defaultConfig []byte

// config is the product's configuration: the embedded defaults, overlaid
// with $ZHIWEN_HOME/config.json when present, then with flags.
type config struct {
	Listen        string `json:"listen"`
	MaxUploadMB   int64  `json:"max_upload_mb"`
	ChunkSize     int    `json:"chunk_size"`
	ChunkOverlap  int    `json:"chunk_overlap"`
	IngestWorkers int    `json:"ingest_workers"`
	TopK          int    `json:"top_k"`
	// Model is a GGUF file for the local runtime; empty means none.
	Model string `json:"model"`
	// OpenAIBaseURL selects an OpenAI-compatible server instead of the local runtime.
	OpenAIBaseURL string `json:"openai_base_url"`
	OpenAIAPIKey  string `json:"openai_api_key"`
	OpenAIModel   string `json:"openai_model"`
	ContextTokens int    `json:"context_tokens"`
	// EmbeddingModel is an encoder GGUF (BERT family, e.g. bge-small-zh)
	// that new knowledge bases embed with instead of the built-in hash
	// embedder; knowledge bases built with the hash embedder keep working.
	EmbeddingModel string `json:"embedding_model"`
	// EmbeddingQueryPrefix is prepended to queries (bge-zh: "为这个句子生成表示以用于检索相关文章：").
	EmbeddingQueryPrefix string `json:"embedding_query_prefix"`
	// DenseWeight is the fusion weight of the dense index (0 keeps the store's default).
	DenseWeight float64 `json:"dense_weight"`
}

// homeDir is $ZHIWEN_HOME, default ~/.zhiwen.
func homeDir() (string, error) {
	if h := os.Getenv("ZHIWEN_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory (set ZHIWEN_HOME): %w", err)
	}
	return filepath.Join(u, ".zhiwen"), nil
}

func loadConfig(home string) (config, error) {
	var c config
	if err := json.Unmarshal(defaultConfig, &c); err != nil {
		return c, fmt.Errorf("embedded defaults: %w", err)
	}
	path := filepath.Join(home, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, nil
}
