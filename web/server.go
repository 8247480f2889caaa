// Package web serves Zhiwen over HTTP: an OpenAI-compatible API, the native
// API for knowledge bases, documents, jobs and conversations, Prometheus
// metrics, and the embedded web UI.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"zhiwen/generation"
	"zhiwen/ingest"
	"zhiwen/retrieval"
)

// Config is everything the server serves.
type Config struct {
	Store retrieval.Store
	Jobs  *ingest.Jobs
	// Answers answers questions; its Retriever is normally Store.
	Answers *generation.Service
	// Conversations is the conversation store (usually Answers.Conversations).
	Conversations *generation.Conversations
	// Embedder serves /v1/embeddings (usually the store's default embedder).
	Embedder retrieval.Embedder
	// MaxUploadBytes limits one uploaded file (default 100 MiB).
	MaxUploadBytes int64
	// MaxRequestBytes limits a JSON request body (default 4 MiB).
	MaxRequestBytes int64
	Logger          *slog.Logger
	// Version is shown by /healthz.
	Version string
}

// Server is the HTTP front of the product.
type Server struct {
	cfg     Config
	engine  *gin.Engine
	metrics *metrics
	log     *slog.Logger
	started time.Time
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 100 << 20
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Conversations == nil && cfg.Answers != nil {
		cfg.Conversations = cfg.Answers.Conversations
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, engine: gin.New(), metrics: newMetrics(), log: cfg.Logger, started: time.Now()}
	s.engine.Use(s.recoverJSON, s.observe)
	s.engine.HandleMethodNotAllowed = true
	s.engine.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") || strings.HasPrefix(c.Request.URL.Path, "/v1/") {
			abortError(c, http.StatusNotFound, "not_found", "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
			return
		}
		s.serveUI(c)
	})
	s.engine.NoMethod(func(c *gin.Context) {
		abortError(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})
	s.routes()
	return s
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() {
	r := s.engine
	r.GET("/healthz", s.health)
	r.GET("/metrics", s.serveMetrics)

	v1 := r.Group("/v1")
	v1.GET("/models", s.listModels)
	v1.POST("/chat/completions", s.chatCompletions)
	v1.POST("/embeddings", s.embeddings)

	api := r.Group("/api")
	api.GET("/kbs", s.listKBs)
	api.POST("/kbs", s.createKB)
	api.GET("/kbs/:kb", s.getKB)
	api.PATCH("/kbs/:kb", s.updateKB)
	api.DELETE("/kbs/:kb", s.deleteKB)
	api.GET("/kbs/:kb/documents", s.listDocuments)
	api.POST("/kbs/:kb/documents", s.uploadDocuments)
	api.GET("/kbs/:kb/documents/:doc", s.getDocument)
	api.DELETE("/kbs/:kb/documents/:doc", s.deleteDocument)
	api.GET("/kbs/:kb/documents/:doc/chunks", s.listChunks)
	api.GET("/kbs/:kb/documents/:doc/file", s.downloadDocument)
	api.POST("/kbs/:kb/documents/:doc/reingest", s.reingestDocument)
	api.GET("/kbs/:kb/chunks/:chunk", s.getChunk)
	api.GET("/jobs", s.listJobs)
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/events", s.jobEvents)
	api.DELETE("/jobs/:id", s.cancelJob)
	api.POST("/search", s.search)
	api.POST("/chat", s.chat)
	api.GET("/conversations", s.listConversations)
	api.GET("/conversations/:id", s.getConversation)
	api.DELETE("/conversations/:id", s.deleteConversation)
	api.GET("/info", s.info)
}

// Serve listens on addr until ctx ends, then shuts down gracefully: it stops
// accepting connections, lets running requests finish (up to grace), and
// parks running ingest jobs so the next start resumes them.
func (s *Server) Serve(ctx context.Context, addr string, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln, grace)
}

// ServeListener is Serve on an existing listener.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if s.cfg.Jobs != nil {
		if cerr := s.cfg.Jobs.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": s.cfg.Version, "uptime_seconds": int(time.Since(s.started).Seconds())})
}

func (s *Server) info(c *gin.Context) {
	backend := "extractive"
	if s.cfg.Answers != nil && s.cfg.Answers.Backend != nil {
		backend = s.cfg.Answers.Backend.Name()
	}
	emb := ""
	if s.cfg.Embedder != nil {
		emb = s.cfg.Embedder.Name()
	}
	c.JSON(http.StatusOK, gin.H{
		"version": s.cfg.Version, "backend": backend, "embedder": emb,
		"formats": ingest.Formats(), "max_upload_bytes": s.cfg.MaxUploadBytes,
	})
}

// apiError is the JSON body of every error: a stable code for programs and
// a message for people. The shape is a superset of OpenAI's.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func abortError(c *gin.Context, status int, code, msg string) {
	var e apiError
	e.Error.Code = code
	e.Error.Message = msg
	e.Error.Type = "invalid_request_error"
	if status >= 500 {
		e.Error.Type = "server_error"
	}
	c.AbortWithStatusJSON(status, e)
}

// fail maps an error from the layers below to an HTTP status: the user's
// mistakes are 4xx, never 500.
func (s *Server) fail(c *gin.Context, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, retrieval.ErrNotFound), errors.Is(err, ingest.ErrJobNotFound), errors.Is(err, generation.ErrConversationNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, retrieval.ErrExists):
		status, code = http.StatusConflict, "exists"
	case errors.Is(err, generation.ErrBadModel):
		status, code = http.StatusBadRequest, "bad_model"
	case errors.Is(err, retrieval.ErrInvalid), errors.Is(err, generation.ErrBadRequest):
		status, code = http.StatusBadRequest, "invalid"
	case errors.Is(err, ingest.ErrTooLarge):
		status, code = http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ingest.ErrUnsupportedType):
		status, code = http.StatusUnsupportedMediaType, "unsupported_type"
	case errors.Is(err, ingest.ErrEncrypted), errors.Is(err, ingest.ErrMalformed), errors.Is(err, ingest.ErrEmpty):
		status, code = http.StatusUnprocessableEntity, "bad_file"
	case errors.Is(err, context.Canceled):
		status, code = 499, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		status, code = http.StatusGatewayTimeout, "timeout"
	}
	if status >= 500 {
		s.log.Error("request failed", "path", c.Request.URL.Path, "err", err)
	}
	abortError(c, status, code, err.Error())
}

// bindJSON decodes a size-limited JSON body into v, answering 400/413 itself.
func (s *Server) bindJSON(c *gin.Context, v any) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxRequestBytes)
	if err := c.ShouldBindJSON(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			abortError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is over %d bytes", s.cfg.MaxRequestBytes))
			return false
		}
		abortError(c, http.StatusBadRequest, "invalid_json", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// recoverJSON turns a panic in a handler into a JSON 500 and keeps serving.
func (s *Server) recoverJSON(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic in handler", "path", c.Request.URL.Path, "panic", r)
			if !c.Writer.Written() {
				abortError(c, http.StatusInternalServerError, "internal", fmt.Sprint("internal error: ", r))
			}
		}
	}()
	c.Next()
}
