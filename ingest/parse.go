package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits bound the resources one file may consume while it is parsed.
// Zero fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxFileBytes is the largest accepted file (default 100 MiB).
	MaxFileBytes int64
	// MaxExpandedBytes caps the total bytes decompressed from a zip container
	// such as DOCX or XLSX (default 200 MiB).
	MaxExpandedBytes int64
	// MaxCompressionRatio caps uncompressed/compressed size of a zip entry
	// larger than 1 MiB (default 100).
	MaxCompressionRatio int64
}

// DefaultLimits returns 100 MiB files, 200 MiB expanded, ratio 100.
func DefaultLimits() Limits {
	return Limits{MaxFileBytes: 100 << 20, MaxExpandedBytes: 200 << 20, MaxCompressionRatio: 100}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxExpandedBytes <= 0 {
		l.MaxExpandedBytes = d.MaxExpandedBytes
	}
	if l.MaxCompressionRatio <= 0 {
		l.MaxCompressionRatio = d.MaxCompressionRatio
	}
	return l
}

type limitsKey struct{}

// limitsFrom returns the Limits that Parse put in ctx, or the defaults.
func limitsFrom(ctx context.Context) Limits {
	if l, ok := ctx.Value(limitsKey{}).(Limits); ok {
		return l
	}
	return DefaultLimits()
}

// Parse detects the format of the file called name (by content first, then by
// extension), parses it with the registered Loader, and cleans the result:
// line endings normalized, control and zero-width characters removed, blank
// line runs collapsed, empty blocks dropped, and every block's Headings filled
// from the Heading blocks before it.
//
// Errors are *ParseError values of class ErrUnsupportedType, ErrTooLarge,
// ErrEncrypted, ErrMalformed or ErrEmpty (test with errors.Is); a panic in a
// loader becomes ErrMalformed. Cancellation returns ctx's error.
func Parse(ctx context.Context, name string, data []byte, lim Limits) (parsed *Parsed, err error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxFileBytes {
		return nil, newParseError(name, ErrTooLarge, fmt.Sprintf("%d bytes is over the %d-byte limit", len(data), lim.MaxFileBytes), nil)
	}
	if isAllSpace(data) {
		return nil, newParseError(name, ErrEmpty, "the file is empty", nil)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	format, err := detectFormat(name, data, lim)
	if err != nil {
		return nil, err
	}
	l, ok := loaderFor(format)
	if !ok {
		return nil, newParseError(name, ErrUnsupportedType, fmt.Sprintf("content is %s, but no %s loader is built in", format, format), nil)
	}
	defer func() {
		if r := recover(); r != nil {
			slog.Error("loader panic", "file", name, "format", format, "panic", r, "stack", string(debug.Stack()))
			parsed = nil
			err = newParseError(name, ErrMalformed, fmt.Sprintf("%s loader failed on this file (panic: %v)", format, r), nil)
		}
	}()
	parsed, err = l.Parse(context.WithValue(ctx, limitsKey{}, lim), name, data)
	if err != nil {
		return nil, classifyLoaderError(ctx, name, format, err)
	}
	if parsed == nil {
		return nil, newParseError(name, ErrMalformed, format+" loader returned nothing", nil)
	}
	if parsed.Format == "" {
		parsed.Format = format
	}
	cleanParsed(parsed)
	if len(parsed.Blocks) == 0 {
		return nil, newParseError(name, ErrEmpty, "no text could be extracted", nil)
	}
	return parsed, nil
}

// classifyLoaderError makes sure every loader error names the file and carries a class.
func classifyLoaderError(ctx context.Context, name, format string, err error) error {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		if pe.Name == "" {
			pe.Name = name
		}
		return err
	}
	for _, kind := range []error{ErrUnsupportedType, ErrTooLarge, ErrEncrypted, ErrMalformed, ErrEmpty} {
		if errors.Is(err, kind) {
			if strings.Contains(err.Error(), name) {
				return err
			}
			return fmt.Errorf("parse %s: %w", name, err)
		}
	}
	return newParseError(name, ErrMalformed, format+" loader", err)
}

func isAllSpace(data []byte) bool {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n', '\f', '\v', 0:
		default:
			return false
		}
	}
	return true
}

// cleanParsed applies the clean-up shared by every format and fills in heading paths.
func cleanParsed(p *Parsed) {
	p.Title = collapseSpaces(cleanText(p.Title, false))
	out := p.Blocks[:0]
	for _, b := range p.Blocks {
		switch b.Kind {
		case Heading:
			b.Text = collapseSpaces(cleanText(b.Text, false))
			if b.Level <= 0 {
				b.Level = 1
			}
		case Code:
			b.Text = cleanText(b.Text, true)
		case Table:
			b.Text = cleanText(b.Text, false)
			b.Header = collapseSpaces(cleanText(b.Header, false))
		default:
			b.Text = cleanText(b.Text, false)
		}
		if b.Text == "" {
			continue
		}
		out = append(out, b)
	}
	p.Blocks = out
	fillHeadings(p.Blocks)
}

// fillHeadings sets each block's Headings to the path of enclosing headings.
// A Heading block's own path holds only the headings above it.
func fillHeadings(blocks []Block) {
	paths := headingPaths(blocks)
	for i := range blocks {
		blocks[i].Headings = paths[i]
	}
}

// headingPaths computes, for every block, the path of outer headings from the
// Heading blocks' Levels. Blocks share slices; callers must not mutate them.
func headingPaths(blocks []Block) [][]string {
	type entry struct {
		level int
		text  string
	}
	var stack []entry
	var cur []string
	paths := make([][]string, len(blocks))
	for i, b := range blocks {
		if b.Kind != Heading {
			paths[i] = cur
			continue
		}
		lvl := max(b.Level, 1)
		for len(stack) > 0 && stack[len(stack)-1].level >= lvl {
			stack = stack[:len(stack)-1]
		}
		outer := make([]string, len(stack))
		for j, e := range stack {
			outer[j] = e.text
		}
		if len(outer) == 0 {
			outer = nil
		}
		paths[i] = outer
		stack = append(stack, entry{lvl, b.Text})
		cur = make([]string, len(stack))
		for j, e := range stack {
			cur[j] = e.text
		}
	}
	return paths
}

// isInvisible reports runes that carry no text: control characters other than
// tab and newline, zero-width characters, the BOM and the soft hyphen.
func isInvisible(r rune) bool {
	switch r {
	case '\t', '\n':
		return false
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u200e', '\u200f', '\ufffe', '\uffff':
		return true
	}
	return r < 0x20 || (r >= 0x7f && r < 0xa0)
}

// cleanText normalizes line endings, removes invisible characters, trims
// trailing spaces on every line, collapses runs of blank lines into one and
// trims the text. Unless keepIndent, leading spaces of the whole text are trimmed.
func cleanText(s string, keepIndent bool) string {
	if s == "" {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\r', r == '\u2028', r == '\u2029', r == '\v', r == '\f':
			b.WriteByte('\n')
		case r == utf8.RuneError:
			// Undecodable bytes never carry meaning; drop them.
		case r == '\u00a0':
			b.WriteByte(' ')
		case isInvisible(r):
		default:
			b.WriteRune(r)
		}
	}
	lines := strings.Split(b.String(), "\n")
	var out strings.Builder
	out.Grow(b.Len())
	blank := 0
	wrote := false
	for _, ln := range lines {
		ln = strings.TrimRightFunc(ln, unicode.IsSpace)
		if ln == "" {
			blank++
			continue
		}
		if wrote {
			if blank > 0 {
				out.WriteString("\n\n")
			} else {
				out.WriteByte('\n')
			}
		}
		blank = 0
		out.WriteString(ln)
		wrote = true
	}
	res := out.String()
	if !keepIndent {
		res = strings.TrimLeftFunc(res, unicode.IsSpace)
	}
	return res
}

// collapseSpaces turns every run of white space into one space and trims.
func collapseSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
