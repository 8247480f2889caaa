package ingest

import (
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Layout thresholds, in multiples of the font size.
const (
	spaceGapRatio    = 0.15 // a horizontal gap wider than this is a word space
	cjkSpaceGapRatio = 0.45 // the same next to a CJK character
	sameLineRatio    = 0.5  // baselines closer than this belong to one line
	paraGapRatio     = 1.4  // a line pitch this many times the usual one starts a paragraph
	shortLineRatio   = 2.0  // a line ending this far before the right margin ends a paragraph
	indentRatio      = 0.9  // a line starting this far right of the margin starts a paragraph
	sizeChangeRatio  = 0.15 // a relative font size change this big starts a paragraph
	duplicateXRatio  = 0.2  // the same glyph redrawn this close (fake bold) is dropped
	defaultGlyphSize = 10.0
)

// textLine is one visual line of a page.
type textLine struct {
	text        string
	left, right float64
	y, size     float64
	firstWord   float64 // width of the line's first word (or first CJK character)
}

// pageParagraphs rebuilds a page's text from glyph positions: lines by
// baseline (top to bottom), words by horizontal gaps, paragraphs by vertical
// gaps, indentation and short lines. A page set in two columns is read
// column by column between the lines that span both.
func pageParagraphs(glyphs []pdfGlyph) []string {
	var paras []string
	for _, seg := range splitColumns(groupRows(glyphs)) {
		var lines []textLine
		for _, row := range seg {
			if l, ok := joinLine(row); ok {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			paras = append(paras, buildParagraphs(lines)...)
		}
	}
	return paras
}

// groupRows sorts glyphs top to bottom into rows of nearly equal baseline,
// each sorted left to right.
func groupRows(glyphs []pdfGlyph) [][]pdfGlyph {
	gs := make([]pdfGlyph, 0, len(glyphs))
	for _, g := range glyphs {
		if g.size <= 0 || math.IsNaN(g.size) || math.IsInf(g.size, 0) {
			g.size = defaultGlyphSize
		}
		if math.IsNaN(g.x) || math.IsNaN(g.y) || math.IsInf(g.x, 0) || math.IsInf(g.y, 0) || math.IsNaN(g.w) || math.IsInf(g.w, 0) {
			continue
		}
		gs = append(gs, g)
	}
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].y > gs[j].y })
	var rows [][]pdfGlyph
	for i := 0; i < len(gs); {
		top := gs[i].y
		tol := sameLineRatio * gs[i].size
		j := i + 1
		for j < len(gs) && top-gs[j].y <= tol {
			j++
		}
		row := gs[i:j:j]
		sort.SliceStable(row, func(a, b int) bool { return row[a].x < row[b].x })
		rows = append(rows, row)
		i = j
	}
	return rows
}

// span is a horizontal extent of text in a row.
type span struct{ lo, hi float64 }

// rowSpans merges a row's glyphs into runs of text separated by wide gaps.
func rowSpans(row []pdfGlyph, size float64) []span {
	var out []span
	for _, g := range row {
		if isBlank(g.text) {
			continue
		}
		lo, hi := g.x, g.x+math.Max(g.w, 0)
		if n := len(out); n > 0 && lo-out[n-1].hi < columnMergeRatio*size {
			out[n-1].hi = math.Max(out[n-1].hi, hi)
			continue
		}
		out = append(out, span{lo, hi})
	}
	return out
}

// Column detection thresholds.
const (
	columnMergeRatio = 0.8  // gaps narrower than this (in font sizes) stay inside a text run
	minGutterRatio   = 0.5  // narrowest gutter, in font sizes
	maxSpanningShare = 0.2  // share of rows that may cross the gutter (titles, headers)
	minColumnRows    = 5    // rows each column needs
	filledShare      = 0.5  // share of a column's rows that must reach its edge
	filledSlack      = 3.0  // how close (in font sizes) a filled row ends to its column's edge
	maxCoverageCells = 8192 // resolution bound for the coverage scan
)

// findGutter looks for one vertical strip in the middle of the page that
// most rows leave empty and that separates two filled text columns (so a
// table with short cells is not mistaken for columns).
func findGutter(rows [][]pdfGlyph) (lo, hi float64, ok bool) {
	var sizes []float64
	for _, r := range rows {
		for _, g := range r {
			sizes = append(sizes, g.size)
		}
	}
	if len(rows) < minColumnRows || len(sizes) == 0 {
		return 0, 0, false
	}
	size := quantile(sizes, 0.5)
	spans := make([][]span, len(rows))
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i, r := range rows {
		spans[i] = rowSpans(r, size)
		for _, s := range spans[i] {
			minX, maxX = math.Min(minX, s.lo), math.Max(maxX, s.hi)
		}
	}
	width := maxX - minX
	if !(width > 20*size) {
		return 0, 0, false
	}
	cells := int(math.Min(width, maxCoverageCells))
	scale := float64(cells) / width
	cov := make([]int, cells+1)
	for _, ss := range spans {
		for _, s := range ss {
			a := int((s.lo - minX) * scale)
			b := min(int((s.hi-minX)*scale), cells-1)
			cov[a]++
			cov[b+1]--
		}
	}
	for i := 1; i <= cells; i++ {
		cov[i] += cov[i-1]
	}
	limit := int(maxSpanningShare * float64(len(rows)))
	best := 0.0
	from, to := int(0.3*float64(cells)), int(0.7*float64(cells))
	for i := from; i < to; {
		if cov[i] > limit {
			i++
			continue
		}
		j := i
		for j < to && cov[j] <= limit {
			j++
		}
		a, b := minX+float64(i)/scale, minX+float64(j)/scale
		if b-a >= minGutterRatio*size && b-a > best && filledColumns(spans, a, b, maxX, size) {
			lo, hi, ok, best = a, b, true, b-a
		}
		i = j
	}
	return lo, hi, ok
}

// filledColumns checks that enough rows have text on each side of the
// gutter [a, b] and that most of them run up to their column's right edge.
func filledColumns(spans [][]span, a, b, maxX, size float64) bool {
	var left, right, leftFull, rightFull int
	for _, ss := range spans {
		lEnd, rEnd := math.Inf(-1), math.Inf(-1)
		for _, s := range ss {
			switch {
			case s.hi <= a:
				lEnd = math.Max(lEnd, s.hi)
			case s.lo >= b:
				rEnd = math.Max(rEnd, s.hi)
			}
		}
		if !math.IsInf(lEnd, -1) {
			left++
			if lEnd >= a-filledSlack*size {
				leftFull++
			}
		}
		if !math.IsInf(rEnd, -1) {
			right++
			if rEnd >= maxX-filledSlack*size {
				rightFull++
			}
		}
	}
	return left >= minColumnRows && right >= minColumnRows &&
		float64(leftFull) >= filledShare*float64(left) && float64(rightFull) >= filledShare*float64(right)
}

// splitColumns returns the page's rows in reading order as segments: when
// there is a gutter, each band of rows between spanning rows is read left
// column first, then right column.
func splitColumns(rows [][]pdfGlyph) [][][]pdfGlyph {
	a, b, ok := findGutter(rows)
	if !ok {
		return [][][]pdfGlyph{rows}
	}
	var segs [][][]pdfGlyph
	var left, right, spanning [][]pdfGlyph
	flushBand := func() {
		if len(left) > 0 {
			segs = append(segs, left)
		}
		if len(right) > 0 {
			segs = append(segs, right)
		}
		left, right = nil, nil
	}
	for _, row := range rows {
		crosses := false
		var l, r []pdfGlyph
		for _, g := range row {
			switch {
			case g.x+math.Max(g.w, 0) <= a+0.01:
				l = append(l, g)
			case g.x >= b-0.01:
				r = append(r, g)
			default:
				if !isBlank(g.text) {
					crosses = true
				}
			}
		}
		if crosses {
			flushBand()
			spanning = append(spanning, row)
			continue
		}
		if len(spanning) > 0 {
			segs = append(segs, spanning)
			spanning = nil
		}
		if len(l) > 0 {
			left = append(left, l)
		}
		if len(r) > 0 {
			right = append(right, r)
		}
	}
	flushBand()
	if len(spanning) > 0 {
		segs = append(segs, spanning)
	}
	return segs
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// joinLine writes a line's glyphs left to right, putting a space where the
// gap between glyphs is wide or the PDF drew a space, but never between two
// CJK characters.
func joinLine(gs []pdfGlyph) (textLine, bool) {
	var b strings.Builder
	var prev *pdfGlyph
	pending, wordDone := false, false
	l := textLine{left: math.Inf(1), right: math.Inf(-1), y: math.Inf(-1)}
	for i := range gs {
		g := &gs[i]
		if isBlank(g.text) {
			if prev != nil {
				pending = true
			}
			continue
		}
		if prev != nil {
			if g.text == prev.text && math.Abs(g.x-prev.x) < duplicateXRatio*math.Max(prev.w, 0.1*g.size) {
				continue
			}
			gap := g.x - (prev.x + prev.w)
			size := math.Max(g.size, prev.size)
			last, _ := utf8.DecodeLastRuneInString(prev.text)
			first, _ := utf8.DecodeRuneInString(g.text)
			threshold := spaceGapRatio
			if isCJKRune(last) || isCJKRune(first) {
				// CJK typesetting puts extra room around Latin words and
				// digits without any space character.
				threshold = cjkSpaceGapRatio
			}
			if gap > threshold*size || gap < -sameLineRatio*size {
				pending = true
			}
			if pending && !(isCJKRune(last) && isCJKRune(first)) {
				b.WriteByte(' ')
				if !wordDone {
					l.firstWord = prev.x + prev.w - l.left
					wordDone = true
				}
			}
		}
		pending = false
		b.WriteString(g.text)
		l.left = math.Min(l.left, g.x)
		l.right = math.Max(l.right, g.x+g.w)
		l.y = math.Max(l.y, g.y)
		l.size = math.Max(l.size, g.size)
		if !wordDone && isCJKRune(lastRune(g.text)) {
			l.firstWord = g.x + g.w - l.left
			wordDone = true
		}
		prev = g
	}
	if !wordDone && prev != nil {
		l.firstWord = l.right - l.left
	}
	if prev == nil {
		return textLine{}, false
	}
	l.text = b.String()
	return l, true
}

func buildParagraphs(lines []textLine) []string {
	lefts := make([]float64, len(lines))
	rights := make([]float64, len(lines))
	var pitches []float64
	for i, l := range lines {
		lefts[i], rights[i] = l.left, l.right
		if i > 0 {
			p := lines[i-1]
			d := p.y - l.y
			if d > 0 && math.Abs(p.size-l.size) <= sizeChangeRatio*math.Max(p.size, l.size) && d < 3*l.size {
				pitches = append(pitches, d)
			}
		}
	}
	marginLeft := quantile(lefts, 0.1)
	marginRight := quantile(rights, 0.9)
	pitch := 0.0
	if len(pitches) > 0 {
		pitch = quantile(pitches, 0.5)
	}

	var paras []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			paras = append(paras, s)
		}
		cur.Reset()
	}
	for i, l := range lines {
		if i > 0 && startsParagraph(lines[i-1], l, pitch, marginLeft, marginRight) {
			flush()
		}
		if cur.Len() > 0 {
			appendLine(&cur, l.text)
		} else {
			cur.WriteString(l.text)
		}
	}
	flush()
	return paras
}

func startsParagraph(prev, l textLine, pitch, marginLeft, marginRight float64) bool {
	size := math.Max(prev.size, l.size)
	if math.Abs(prev.size-l.size) > sizeChangeRatio*size {
		return true
	}
	gap := prev.y - l.y
	usual := pitch
	if usual <= 0 || usual > 3*size {
		usual = 1.2 * size
	}
	if gap > paraGapRatio*usual {
		return true
	}
	// A line ends a paragraph when it stops early although the next line's
	// first word would have fitted after it.
	if room := marginRight - prev.right; room > shortLineRatio*prev.size && room > l.firstWord+0.5*l.size {
		return true
	}
	indented := func(x textLine) bool { return x.left-marginLeft >= indentRatio*x.size }
	if indented(l) && !(indented(prev) && math.Abs(prev.left-l.left) < 0.5*size) {
		return true
	}
	return false
}

// appendLine joins a wrapped line onto a paragraph: no space next to a CJK
// character, a hyphenated English word rejoined, otherwise one space.
func appendLine(b *strings.Builder, next string) {
	s := b.String()
	last, _ := utf8.DecodeLastRuneInString(s)
	first, _ := utf8.DecodeRuneInString(next)
	switch {
	case isCJKRune(last) || isCJKRune(first):
		// Chinese lines wrap anywhere, also next to digits and Latin words.
	case last == '-' && unicode.IsLower(first) && len(s) >= 2 && isLetterBefore(s):
		b.Reset()
		b.WriteString(s[:len(s)-1])
	default:
		b.WriteByte(' ')
	}
	b.WriteString(next)
}

func isLetterBefore(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:len(s)-1])
	return unicode.IsLetter(r) && r < 0x3000
}

// quantile returns the q-quantile of xs (it sorts a copy).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(q * float64(len(s)-1))
	return s[i]
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}
