package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"zhiwen/ingest"
	"zhiwen/retrieval"
)

func (s *Server) listKBs(c *gin.Context) {
	kbs, err := s.cfg.Store.KBs(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if kbs == nil {
		kbs = []retrieval.KBInfo{}
	}
	c.JSON(http.StatusOK, gin.H{"kbs": kbs})
}

func (s *Server) createKB(c *gin.Context) {
	var req retrieval.KBConfig
	if !s.bindJSON(c, &req) {
		return
	}
	kb, err := s.cfg.Store.CreateKB(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, kb)
}

func (s *Server) getKB(c *gin.Context) {
	kb, err := s.cfg.Store.KB(c.Request.Context(), c.Param("kb"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, kb)
}

// updateKB renames a knowledge base (field "name") and/or changes its
// description and default adapter.
func (s *Server) updateKB(c *gin.Context) {
	var req struct {
		Name           *string `json:"name"`
		Description    *string `json:"description"`
		DefaultAdapter *string `json:"default_adapter"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	name := c.Param("kb")
	if req.Name != nil && *req.Name != name {
		if err := s.cfg.Store.RenameKB(ctx, name, *req.Name); err != nil {
			s.fail(c, err)
			return
		}
		name = *req.Name
	}
	kb, err := s.cfg.Store.UpdateKB(ctx, name, retrieval.KBUpdate{Description: req.Description, DefaultAdapter: req.DefaultAdapter})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, kb)
}

func (s *Server) deleteKB(c *gin.Context) {
	if err := s.cfg.Store.DeleteKB(c.Request.Context(), c.Param("kb")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// listDocuments returns the committed documents and the knowledge base's
// unfinished or failed ingest jobs, so a UI can show both.
func (s *Server) listDocuments(c *gin.Context) {
	ctx := c.Request.Context()
	kb := c.Param("kb")
	docs, err := s.cfg.Store.Documents(ctx, kb)
	if err != nil {
		s.fail(c, err)
		return
	}
	if docs == nil {
		docs = []retrieval.DocumentInfo{}
	}
	jobs := []ingest.Job{}
	if s.cfg.Jobs != nil {
		all, err := s.cfg.Jobs.List(kb, 200)
		if err != nil {
			s.fail(c, err)
			return
		}
		for _, j := range all {
			if j.Status != ingest.JobSucceeded {
				jobs = append(jobs, j)
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"documents": docs, "jobs": jobs})
}

// uploadDocuments accepts a multipart form with one or more "files" (or
// "file") parts and an optional "meta" JSON object of metadata for every
// file. Each file becomes an ingest job; the response lists them (202), and
// files refused up front (unknown type, too large) are listed with errors.
func (s *Server) uploadDocuments(c *gin.Context) {
	ctx := c.Request.Context()
	kb := c.Param("kb")
	if _, err := s.cfg.Store.KB(ctx, kb); err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Jobs == nil {
		abortError(c, http.StatusServiceUnavailable, "no_ingest", "ingest is not running on this server")
		return
	}
	mediaType, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		abortError(c, http.StatusBadRequest, "invalid", "upload must be multipart/form-data with one or more \"files\" parts")
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		abortError(c, http.StatusBadRequest, "invalid", "read multipart body: "+err.Error())
		return
	}
	type refused struct {
		Name  string `json:"name"`
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	var (
		meta    map[string]string
		jobs    = []ingest.Job{}
		refusal = []refused{}
	)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			abortError(c, http.StatusBadRequest, "invalid", "read multipart body: "+err.Error())
			return
		}
		switch part.FormName() {
		case "meta":
			b, _ := io.ReadAll(io.LimitReader(part, 64<<10))
			if err := json.Unmarshal(b, &meta); err != nil {
				abortError(c, http.StatusBadRequest, "invalid", "meta must be a JSON object of strings: "+err.Error())
				return
			}
		case "files", "file":
			name := filepath.Base(part.FileName())
			if name == "" || name == "." || name == "/" {
				refusal = append(refusal, refused{Name: part.FileName(), Code: "invalid", Error: "file part has no file name"})
				continue
			}
			job, err := s.cfg.Jobs.Submit(kb, name, part, meta)
			if err != nil {
				code := "invalid"
				switch {
				case errors.Is(err, ingest.ErrTooLarge):
					code = "too_large"
				case errors.Is(err, ingest.ErrUnsupportedType):
					code = "unsupported_type"
				case errors.Is(err, ingest.ErrEncrypted), errors.Is(err, ingest.ErrMalformed):
					code = "bad_file"
				}
				refusal = append(refusal, refused{Name: name, Code: code, Error: err.Error()})
				continue
			}
			jobs = append(jobs, job)
		}
		part.Close()
	}
	if len(jobs) == 0 && len(refusal) == 0 {
		abortError(c, http.StatusBadRequest, "invalid", "no files in the upload (use form field \"files\")")
		return
	}
	status := http.StatusAccepted
	if len(jobs) == 0 {
		switch refusal[0].Code {
		case "too_large":
			status = http.StatusRequestEntityTooLarge
		case "unsupported_type":
			status = http.StatusUnsupportedMediaType
		case "bad_file":
			status = http.StatusUnprocessableEntity
		default:
			status = http.StatusBadRequest
		}
	}
	c.JSON(status, gin.H{"jobs": jobs, "refused": refusal})
}

func (s *Server) getDocument(c *gin.Context) {
	d, err := s.cfg.Store.Document(c.Request.Context(), c.Param("kb"), c.Param("doc"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Server) deleteDocument(c *gin.Context) {
	if err := s.cfg.Store.DeleteDocument(c.Request.Context(), c.Param("kb"), c.Param("doc")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) listChunks(c *gin.Context) {
	chunks, err := s.cfg.Store.Chunks(c.Request.Context(), c.Param("kb"), c.Param("doc"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if chunks == nil {
		chunks = []ingest.Chunk{}
	}
	c.JSON(http.StatusOK, gin.H{"chunks": chunks})
}

func (s *Server) getChunk(c *gin.Context) {
	ch, err := s.cfg.Store.Chunk(c.Request.Context(), c.Param("kb"), c.Param("chunk"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ch)
}

// originalPath finds the kept original file of a document.
func (s *Server) originalPath(c *gin.Context) (retrieval.DocumentInfo, string, bool) {
	d, err := s.cfg.Store.Document(c.Request.Context(), c.Param("kb"), c.Param("doc"))
	if err != nil {
		s.fail(c, err)
		return d, "", false
	}
	if s.cfg.Jobs == nil {
		abortError(c, http.StatusNotFound, "not_found", "original files are not kept on this server")
		return d, "", false
	}
	path := s.cfg.Jobs.OriginalPath(d.Hash)
	if _, err := os.Stat(path); err != nil {
		abortError(c, http.StatusNotFound, "not_found", fmt.Sprintf("the original file of %s is not available", d.Name))
		return d, "", false
	}
	return d, path, true
}

// downloadDocument serves the original file, inline so that a browser opens
// a PDF (the UI adds #page=N to jump to a cited page).
func (s *Server) downloadDocument(c *gin.Context) {
	d, path, ok := s.originalPath(c)
	if !ok {
		return
	}
	ctype := mime.TypeByExtension(strings.ToLower(filepath.Ext(d.Name)))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": d.Name}))
	c.Header("X-Content-Type-Options", "nosniff")
	c.File(path)
}

// reingestDocument parses the kept original again (after a parser or
// chunking change) as a new job.
func (s *Server) reingestDocument(c *gin.Context) {
	d, path, ok := s.originalPath(c)
	if !ok {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer f.Close()
	job, err := s.cfg.Jobs.SubmitReingest(d.KB, d.Name, f, d.Meta)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, job)
}

func (s *Server) listJobs(c *gin.Context) {
	jobs, err := s.cfg.Jobs.List(c.Query("kb"), 500)
	if err != nil {
		s.fail(c, err)
		return
	}
	if jobs == nil {
		jobs = []ingest.Job{}
	}
	c.JSON(http.StatusOK, gin.H{"jobs": jobs})
}

func (s *Server) getJob(c *gin.Context) {
	job, err := s.cfg.Jobs.Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, job)
}

func (s *Server) cancelJob(c *gin.Context) {
	if err := s.cfg.Jobs.Cancel(c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	job, err := s.cfg.Jobs.Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, job)
}

// jobEvents streams a job's state as server-sent events until it is final.
func (s *Server) jobEvents(c *gin.Context) {
	ch, err := s.cfg.Jobs.Watch(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	sseHeaders(c)
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case job, ok := <-ch:
			if !ok {
				return
			}
			writeSSE(c, "job", job)
		case <-keepAlive.C:
			fmt.Fprint(c.Writer, ": keep-alive\n\n")
			c.Writer.Flush()
		case <-c.Request.Context().Done():
			return
		}
	}
}

// searchRequest is the body of POST /api/search.
type searchRequest struct {
	KB     string            `json:"kb"`
	KBs    []string          `json:"kbs"`
	Query  string            `json:"query"`
	K      int               `json:"k"`
	Mode   string            `json:"mode"`
	DocIDs []string          `json:"doc_ids"`
	Meta   map[string]string `json:"meta"`
}

func (r searchRequest) kbs() []string {
	if r.KB != "" {
		return append([]string{r.KB}, r.KBs...)
	}
	return r.KBs
}

// search is the retrieval hit test: what the answering service would see.
func (s *Server) search(c *gin.Context) {
	var req searchRequest
	if !s.bindJSON(c, &req) {
		return
	}
	if strings.TrimSpace(req.Query) == "" || len(req.kbs()) == 0 {
		abortError(c, http.StatusBadRequest, "invalid", "query and kb are required")
		return
	}
	mode, err := retrieval.ParseMode(req.Mode)
	if err != nil {
		s.fail(c, err)
		return
	}
	if req.K <= 0 {
		req.K = 10
	}
	if req.K > 100 {
		req.K = 100
	}
	start := time.Now()
	hits, err := s.cfg.Store.Search(c.Request.Context(), retrieval.Query{
		KBs: req.kbs(), Text: req.Query, K: req.K, Mode: mode, Filter: retrieval.Filter{DocIDs: req.DocIDs, Meta: req.Meta},
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	if hits == nil {
		hits = []retrieval.Hit{}
	}
	c.JSON(http.StatusOK, gin.H{"hits": hits, "elapsed_ms": float64(time.Since(start).Microseconds()) / 1000})
}
