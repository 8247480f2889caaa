package ingest

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// Loader parses one file format into blocks of text.
type Loader interface {
	// Format names the format, e.g. "pdf"; it becomes Parsed.Format and Document.Format.
	Format() string
	// Sniff reports whether data (the file's first bytes, up to 4 KiB) looks like this format.
	Sniff(head []byte) bool
	// Parse extracts the file's text. name is the file name, for messages only.
	Parse(ctx context.Context, name string, data []byte) (*Parsed, error)
}

var (
	loadersMu sync.RWMutex
	loaders   = map[string]Loader{} // by format
	byExt     = map[string]string{} // lower-case extension with dot -> format
)

// RegisterLoader makes l available to Parse for files with the given
// extensions (".pdf") and for files whose content l sniffs as its own.
// Registering a format twice replaces the earlier loader.
func RegisterLoader(l Loader, exts ...string) {
	loadersMu.Lock()
	defer loadersMu.Unlock()
	loaders[l.Format()] = l
	for _, e := range exts {
		byExt[strings.ToLower(e)] = l.Format()
	}
}

// Formats lists the registered formats, sorted.
func Formats() []string {
	loadersMu.RLock()
	defer loadersMu.RUnlock()
	out := make([]string, 0, len(loaders))
	for f := range loaders {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func loaderFor(format string) (Loader, bool) {
	loadersMu.RLock()
	defer loadersMu.RUnlock()
	l, ok := loaders[format]
	return l, ok
}
