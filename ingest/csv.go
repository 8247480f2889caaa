package ingest

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

func init() {
	RegisterLoader(csvLoader{}, ".csv", ".tsv", ".tab")
}

// csvLoader reads delimited text (comma, tab, semicolon or pipe, sniffed) in
// UTF-8 or GBK as one Table block whose first row is the header.
type csvLoader struct{}

func (csvLoader) Format() string { return "csv" }

// Sniff accepts text whose first lines split consistently into two or more fields.
func (csvLoader) Sniff(head []byte) bool {
	s, _, err := decodeText("", head, true)
	if err != nil {
		return false
	}
	lines := firstLines(s, 20)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 && len(head) == 4096 {
		lines = firstLines(s[:i], 20) // the last line may be cut
	}
	if len(lines) < 3 {
		return false
	}
	_, score := delimiterScore(lines)
	return score >= 0.8
}

func (csvLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	s, enc, err := decodeText(name, data, false)
	if err != nil {
		return nil, err
	}
	delim := '\t'
	if ext := strings.ToLower(filepath.Ext(name)); ext != ".tsv" && ext != ".tab" {
		if d, ok := sniffDelimiter(firstLines(s, 20)); ok {
			delim = d
		} else {
			delim = ','
		}
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = delim
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	var rows [][]string
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, newParseError(name, ErrMalformed, "bad delimited text", err)
		}
		rows = append(rows, rec)
	}
	p := &Parsed{Format: "csv", Blocks: tableBlocks(rows)}
	if enc != "utf-8" {
		p.Warnings = append(p.Warnings, "decoded as "+enc)
	}
	if delim != ',' {
		p.Warnings = append(p.Warnings, fmt.Sprintf("delimiter %q", delim))
	}
	return p, nil
}

func firstLines(s string, n int) []string {
	var out []string
	for _, ln := range strings.SplitN(s, "\n", n+1) {
		if strings.TrimSpace(ln) != "" {
			out = append(out, strings.TrimRight(ln, "\r"))
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// sniffDelimiter picks the delimiter that splits the lines into the same
// number (two or more) of fields most consistently.
func sniffDelimiter(lines []string) (rune, bool) {
	d, score := delimiterScore(lines)
	return d, score >= 0.6
}

// delimiterScore returns the most consistent delimiter and the share of
// lines that split into its most common field count.
func delimiterScore(lines []string) (rune, float64) {
	best, bestScore := ',', 0.0
	for _, d := range []rune{',', '\t', ';', '|'} {
		counts := map[int]int{}
		for _, ln := range lines {
			counts[countOutsideQuotes(ln, d)]++
		}
		mode, modeN := 0, 0
		for c, n := range counts {
			if c > 0 && (n > modeN || n == modeN && c > mode) {
				mode, modeN = c, n
			}
		}
		if mode == 0 {
			continue
		}
		score := float64(modeN) / float64(len(lines))
		if len(lines) > 1 && modeN < 2 {
			continue
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best, bestScore
}

func countOutsideQuotes(s string, d rune) int {
	n, quoted := 0, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == d && !quoted:
			n++
		}
	}
	return n
}
