package web

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// uiFiles is the web UI: plain HTML, CSS and JavaScript, no build step.
//
//go:embed ui
var uiFiles embed.FS

var uiRoot, _ = fs.Sub(uiFiles, "ui")

// serveUI serves the embedded UI; unknown paths get index.html so that the
// UI's own routes (#/kb/...) survive a reload.
func (s *Server) serveUI(c *gin.Context) {
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		abortError(c, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	p := strings.TrimPrefix(path.Clean(c.Request.URL.Path), "/")
	if p == "" {
		p = "index.html"
	}
	if st, err := fs.Stat(uiRoot, p); err != nil || st.IsDir() {
		p = "index.html"
	}
	b, err := fs.ReadFile(uiRoot, p)
	if err != nil {
		abortError(c, http.StatusNotFound, "not_found", "no such page")
		return
	}
	ctype := mime.TypeByExtension(path.Ext(p))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, b)
}
