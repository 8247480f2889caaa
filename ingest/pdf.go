package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

func init() {
	RegisterLoader(PDFLoader{}, ".pdf")
}

// PDFLoader extracts text from PDF files with github.com/ledongthuc/pdf,
// rebuilding words, lines and paragraphs from glyph positions. It repairs
// the Chinese encodings the library does not decode (GBK bytes behind a
// WinAnsi TrueType font, GBK-EUC and UniGB-UTF16 CMaps without ToUnicode),
// drops pages that still decode as garbage, and by default runs the
// extraction in a child process with a time limit and a memory cap (see
// ServeWorker and SetPDFIsolation).
type PDFLoader struct{}

// Format returns "pdf".
func (PDFLoader) Format() string { return "pdf" }

// Sniff reports whether "%PDF-" appears within the first 1 KiB.
func (PDFLoader) Sniff(head []byte) bool {
	return bytes.Contains(head[:min(len(head), pdfHeaderSearchLen)], []byte("%PDF-"))
}

// Parse extracts one Paragraph block per reconstructed paragraph, each
// with its 1-based Page. Encrypted files fail with ErrEncrypted, files
// without text (scanned images) with ErrEmpty, and unreadable, garbled,
// hanging or memory-hungry files with ErrMalformed.
func (PDFLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	var res *pdfResult
	var err error
	if pdfIsolation.Load() && workerServed.Load() {
		res, err = runPDFWorker(ctx, data)
		if errors.Is(err, errWorkerUnavailable) {
			slog.Warn("pdf worker unavailable; extracting in-process", "file", name, "err", err)
			res, err = extractPDFGuarded(ctx, data)
		}
	} else {
		if pdfIsolation.Load() {
			warnNoWorker.Do(func() {
				slog.Warn("pdf isolation is on but this program never called ingest.ServeWorker; extracting in-process")
			})
		}
		res, err = extractPDFGuarded(ctx, data)
	}
	if err != nil {
		return nil, pdfError(name, err)
	}
	if res.Failure != nil {
		return nil, pdfError(name, res.Failure)
	}
	return &Parsed{
		Title:    res.Title,
		Format:   "pdf",
		Pages:    res.Pages,
		Blocks:   res.Blocks,
		Warnings: res.Warnings,
	}, nil
}

// pdfError turns an extraction failure into a *ParseError naming the file
// and carrying the matching class.
func pdfError(name string, err error) error {
	var f *pdfFailure
	if errors.As(err, &f) {
		switch f.Kind {
		case pdfFailEncrypted:
			return newParseError(name, ErrEncrypted, f.Reason, nil)
		case pdfFailEmpty:
			return newParseError(name, ErrEmpty, f.Reason, nil)
		default:
			return newParseError(name, ErrMalformed, f.Reason, nil)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return newParseError(name, ErrMalformed, "pdf extraction", err)
}

var (
	pdfIsolation         atomic.Bool
	pdfTimeout           atomic.Int64 // nanoseconds
	pdfMemoryLimit       atomic.Int64 // bytes
	workerServed         atomic.Bool
	errWorkerUnavailable = errors.New("pdf worker unavailable")
)

// Defaults for the PDF worker.
const (
	DefaultPDFTimeout     = 60 * time.Second
	DefaultPDFMemoryLimit = 1 << 30
)

func init() {
	pdfIsolation.Store(true)
	pdfTimeout.Store(int64(DefaultPDFTimeout))
	pdfMemoryLimit.Store(DefaultPDFMemoryLimit)
}

// SetPDFIsolation turns the child-process extraction on (the default) or
// off. Off, PDFs are parsed in this process with panic recovery and the
// time limit, but a library hang leaks a goroutine and nothing caps memory;
// use it only in programs that cannot re-execute themselves.
func SetPDFIsolation(on bool) { pdfIsolation.Store(on) }

// SetPDFLimits sets the wall-clock limit for extracting one PDF and the
// worker's memory cap; zero or negative values restore the defaults.
func SetPDFLimits(timeout time.Duration, memoryBytes int64) {
	if timeout <= 0 {
		timeout = DefaultPDFTimeout
	}
	if memoryBytes <= 0 {
		memoryBytes = DefaultPDFMemoryLimit
	}
	pdfTimeout.Store(int64(timeout))
	pdfMemoryLimit.Store(memoryBytes)
}

// pdfResult is what an extraction produces, in or out of process.
type pdfResult struct {
	Title    string      `json:"title,omitempty"`
	Pages    int         `json:"pages"`
	Blocks   []Block     `json:"blocks"`
	Warnings []string    `json:"warnings,omitempty"`
	Failure  *pdfFailure `json:"failure,omitempty"`
}

// extractPDFGuarded runs extractPDF in this process under the time limit,
// turning panics into malformed-file failures.
func extractPDFGuarded(ctx context.Context, data []byte) (*pdfResult, error) {
	timeout := time.Duration(pdfTimeout.Load())
	inner, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan *pdfResult, 1)
	go func() {
		done <- extractPDFSafe(inner, data)
	}()
	var res *pdfResult
	select {
	case res = <-done:
	case <-inner.Done():
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if inner.Err() != nil {
		return nil, &pdfFailure{pdfFailMalformed, fmt.Sprintf("extraction timed out after %s", timeout)}
	}
	return res, nil
}

// extractPDFSafe is extractPDF with panics recovered.
func extractPDFSafe(ctx context.Context, data []byte) (res *pdfResult) {
	defer func() {
		if p := recover(); p != nil {
			res = &pdfResult{Failure: &pdfFailure{pdfFailMalformed, "parser failure: " + stringOf(p)}}
		}
	}()
	return extractPDF(ctx, data)
}

// maxPDFTextBytes caps the text kept from one document.
const maxPDFTextBytes = 64 << 20

// extractPDF does the work: open, walk pages, decode, lay out, judge.
func extractPDF(ctx context.Context, data []byte) *pdfResult {
	fail := func(err error) *pdfResult {
		var f *pdfFailure
		if errors.As(err, &f) {
			return &pdfResult{Failure: f}
		}
		return &pdfResult{Failure: &pdfFailure{pdfFailMalformed, err.Error()}}
	}
	r, err := openPDF(data)
	if err != nil {
		return fail(err)
	}
	pages, err := collectPages(r)
	if err != nil {
		return fail(err)
	}
	if len(pages) == 0 {
		return fail(&pdfFailure{pdfFailEmpty, "the document has no pages"})
	}
	res := &pdfResult{Pages: len(pages)}
	if t := r.Trailer().Key("Info").Key("Title").Text(); t != "" && !measureText(t).garbled() {
		res.Title = t
	}
	doc := newPDFDoc()
	var total, garbage, failed, textBytes int
	for i, ref := range pages {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		pageNo := i + 1
		glyphs, err := doc.extractPage(ctx, ref)
		if err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			failed++
			res.Warnings = append(res.Warnings, fmt.Sprintf("page %d: %v", pageNo, err))
			if len(glyphs) == 0 {
				continue
			}
		}
		paras := pageParagraphs(glyphs)
		q := measureText(stringsJoin(paras))
		total += q.chars
		if q.garbled() {
			garbage += q.chars
			res.Warnings = append(res.Warnings, fmt.Sprintf("page %d: text looks garbled (%.0f%% undecodable characters); page skipped", pageNo, 100*q.share()))
			continue
		}
		for _, p := range paras {
			p = stripUndecodable(p)
			if isBlank(p) {
				continue
			}
			res.Blocks = append(res.Blocks, Block{Kind: Paragraph, Text: p, Page: pageNo})
			textBytes += len(p)
		}
		if textBytes > maxPDFTextBytes && pageNo < len(pages) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("text truncated after page %d of %d: over %d MiB extracted", pageNo, len(pages), maxPDFTextBytes>>20))
			break
		}
	}
	switch {
	case total == 0 && failed == len(pages):
		return fail(&pdfFailure{pdfFailMalformed, fmt.Sprintf("no page could be read (%s)", firstWarning(res.Warnings))})
	case total == 0:
		return fail(&pdfFailure{pdfFailEmpty, "no extractable text (scanned images?)"})
	case len(res.Blocks) == 0 || garbage*2 > total:
		return fail(&pdfFailure{pdfFailGarbage, fmt.Sprintf("text is mostly undecodable (%d of %d characters on garbled pages)", garbage, total)})
	}
	return res
}

func stringsJoin(ps []string) string {
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p)
		b.WriteByte('\n')
	}
	return b.String()
}

func firstWarning(ws []string) string {
	if len(ws) == 0 {
		return "unknown error"
	}
	return ws[0]
}
