package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ledongthuc/pdf"
)

// Limits that keep one hostile page from running away inside the parser.
const (
	maxPDFPages        = 100000
	maxPageTreeNodes   = 300000
	maxOpsPerPage      = 4000000
	maxGlyphsPerPage   = 400000
	maxFormDepth       = 12
	pdfHeaderSearchLen = 1024
)

// pdfFailureKind classifies why a PDF produced no text, so that the parent
// process can map it onto the package's sentinel errors.
type pdfFailureKind string

const (
	pdfFailEncrypted pdfFailureKind = "encrypted"
	pdfFailMalformed pdfFailureKind = "malformed"
	pdfFailEmpty     pdfFailureKind = "empty"
	pdfFailGarbage   pdfFailureKind = "garbage"
)

// pdfFailure is an extraction failure that crosses the process boundary.
type pdfFailure struct {
	Kind   pdfFailureKind `json:"kind"`
	Reason string         `json:"reason"`
}

func (e *pdfFailure) Error() string { return string(e.Kind) + ": " + e.Reason }

// pdfGlyph is one decoded character (or a few, for ligatures) placed on the page.
type pdfGlyph struct {
	text    string
	x, y    float64 // glyph origin in device space (points, y up)
	w, size float64 // advance width and font size in device space
}

// rawGlyph is a code as drawn, before the page-level decoding decisions.
type rawGlyph struct {
	font    *pdfFont
	code    string
	run     int // glyphs of one shown string share a run
	x, y    float64
	w, size float64
}

// openPDF opens data with the library after repairing the two header and
// trailer quirks it rejects although readers accept them: bytes before
// "%PDF-" or a header version it does not list, and junk after "%%EOF".
func openPDF(data []byte) (*pdf.Reader, error) {
	head := data[:min(len(data), pdfHeaderSearchLen)]
	start := bytes.Index(head, []byte("%PDF-"))
	if start < 0 {
		return nil, &pdfFailure{pdfFailMalformed, "no %PDF- header"}
	}
	data = data[start:]
	if len(data) > 9 && !(data[5] == '1' && data[6] == '.' && data[7] >= '0' && data[7] <= '7' && (data[8] == '\r' || data[8] == '\n')) {
		fixed := append([]byte(nil), data...)
		copy(fixed[5:8], "1.7")
		if fixed[8] != '\r' && fixed[8] != '\n' {
			fixed[8] = '\n'
		}
		data = fixed
	}
	if eof := bytes.LastIndex(data, []byte("%%EOF")); eof >= 0 {
		data = data[:eof+5]
	}
	r, err := openReader(data)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, pdf.ErrInvalidPassword) || strings.Contains(strings.ToLower(msg), "encrypt") {
			return nil, &pdfFailure{pdfFailEncrypted, msg}
		}
		return nil, &pdfFailure{pdfFailMalformed, msg}
	}
	return r, nil
}

func openReader(data []byte) (r *pdf.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("malformed PDF: %s", stringOf(p))
		}
	}()
	return pdf.NewReader(bytes.NewReader(data), int64(len(data)))
}

// pdfPageRef is a page dictionary with the resources it inherits.
type pdfPageRef struct {
	page, resources pdf.Value
}

// collectPages walks the page tree depth-first, guarding against cycles
// and absurd sizes (the library's own walk loops forever on a cyclic tree).
func collectPages(r *pdf.Reader) ([]pdfPageRef, error) {
	root := r.Trailer().Key("Root").Key("Pages")
	if root.IsNull() {
		return nil, &pdfFailure{pdfFailMalformed, "no page tree"}
	}
	var pages []pdfPageRef
	seen := map[string]bool{}
	nodes := 0
	var walk func(node, res pdf.Value, depth int) error
	walk = func(node, res pdf.Value, depth int) error {
		nodes++
		if nodes > maxPageTreeNodes || len(pages) > maxPDFPages {
			return &pdfFailure{pdfFailMalformed, "page tree too large"}
		}
		if depth > 64 {
			return &pdfFailure{pdfFailMalformed, "page tree too deep"}
		}
		if r := node.Key("Resources"); !r.IsNull() {
			res = r
		}
		kids := node.Key("Kids")
		if node.Key("Type").Name() == "Page" || kids.Kind() != pdf.Array {
			if node.Kind() == pdf.Dict {
				pages = append(pages, pdfPageRef{node, res})
			}
			return nil
		}
		id := node.String()
		if seen[id] {
			return nil // a cycle: this node is already being walked
		}
		seen[id] = true
		for i := 0; i < kids.Len(); i++ {
			if err := walk(kids.Index(i), res, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, pdf.Value{}, 0); err != nil {
		return nil, err
	}
	return pages, nil
}

// pdfDoc extracts text from one open document, caching fonts across pages
// by their dictionary's identity (fonts with the same resource name on two
// pages are often different fonts).
type pdfDoc struct {
	fonts map[string]*pdfFont
}

func newPDFDoc() *pdfDoc { return &pdfDoc{fonts: map[string]*pdfFont{}} }

func (d *pdfDoc) font(v pdf.Value) *pdfFont {
	key := v.String()
	if f, ok := d.fonts[key]; ok {
		return f
	}
	f := newPDFFont(v)
	d.fonts[key] = f
	return f
}

// matrix is a PDF transformation [a b c d e f]; points are row vectors.
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: apply m, then n.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

type gState struct {
	ctm, tm, tlm        matrix
	tc, tw, th, tl, tfs float64
	rise                float64
	font                *pdfFont
}

// pageInterp runs one page's content stream and records the glyphs it draws.
type pageInterp struct {
	ctx    context.Context
	doc    *pdfDoc
	g      gState
	stack  []gState
	glyphs []rawGlyph
	run    int
	ops    int
	err    error
}

var errPageLimit = errors.New("page content exceeds extraction limits")

// extractPage returns a page's decoded glyphs.
func (d *pdfDoc) extractPage(ctx context.Context, ref pdfPageRef) (glyphs []pdfGlyph, err error) {
	defer func() {
		if p := recover(); p != nil {
			glyphs, err = nil, fmt.Errorf("page content: %s", stringOf(p))
		}
	}()
	in := &pageInterp{ctx: ctx, doc: d, g: gState{ctm: identity, tm: identity, tlm: identity, th: 1}}
	contents := ref.page.Key("Contents")
	if contents.IsNull() {
		return nil, nil
	}
	in.run = 0
	in.interpret(contents, ref.resources, 0)
	if in.err != nil && in.err != errPageLimit {
		return nil, in.err
	}
	glyphs = decodeGlyphs(in.glyphs)
	if in.err != nil {
		return glyphs, in.err
	}
	return glyphs, nil
}

func (in *pageInterp) interpret(strm, res pdf.Value, depth int) {
	// Resolving a font through the library re-reads (and re-inflates) its
	// objects every time, so fonts are looked up once per resource name.
	fonts := map[string]*pdfFont{}
	pdf.Interpret(strm, func(stk *pdf.Stack, op string) {
		n := stk.Len()
		args := make([]pdf.Value, n)
		for i := n - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		if in.err != nil {
			return
		}
		in.ops++
		if in.ops%4096 == 0 && in.ctx.Err() != nil {
			in.err = in.ctx.Err()
			return
		}
		if in.ops > maxOpsPerPage || len(in.glyphs) > maxGlyphsPerPage {
			in.err = errPageLimit
			return
		}
		in.do(op, args, res, fonts, depth)
	})
}

func nums(args []pdf.Value, n int) ([]float64, bool) {
	if len(args) < n {
		return nil, false
	}
	out := make([]float64, n)
	for i, a := range args[len(args)-n:] {
		if a.Kind() != pdf.Integer && a.Kind() != pdf.Real {
			return nil, false
		}
		out[i] = a.Float64()
	}
	return out, true
}

func (in *pageInterp) do(op string, args []pdf.Value, res pdf.Value, fonts map[string]*pdfFont, depth int) {
	g := &in.g
	switch op {
	case "q":
		if len(in.stack) < 1024 {
			in.stack = append(in.stack, *g)
		}
	case "Q":
		if n := len(in.stack); n > 0 {
			*g = in.stack[n-1]
			in.stack = in.stack[:n-1]
		}
	case "cm":
		if v, ok := nums(args, 6); ok {
			g.ctm = matrix{v[0], v[1], v[2], v[3], v[4], v[5]}.mul(g.ctm)
		}
	case "BT":
		g.tm, g.tlm = identity, identity
	case "Tc":
		if v, ok := nums(args, 1); ok {
			g.tc = v[0]
		}
	case "Tw":
		if v, ok := nums(args, 1); ok {
			g.tw = v[0]
		}
	case "Tz":
		if v, ok := nums(args, 1); ok {
			g.th = v[0] / 100
		}
	case "TL":
		if v, ok := nums(args, 1); ok {
			g.tl = v[0]
		}
	case "Ts":
		if v, ok := nums(args, 1); ok {
			g.rise = v[0]
		}
	case "Tf":
		if len(args) >= 2 {
			g.tfs = args[len(args)-1].Float64()
			name := args[len(args)-2].Name()
			f, ok := fonts[name]
			if !ok {
				if fv := res.Key("Font").Key(name); fv.Kind() == pdf.Dict {
					f = in.doc.font(fv)
				}
				fonts[name] = f
			}
			g.font = f
		}
	case "Tm":
		if v, ok := nums(args, 6); ok {
			g.tm = matrix{v[0], v[1], v[2], v[3], v[4], v[5]}
			g.tlm = g.tm
		}
	case "TD":
		if v, ok := nums(args, 2); ok {
			g.tl = -v[1]
			in.moveLine(v[0], v[1])
		}
	case "Td":
		if v, ok := nums(args, 2); ok {
			in.moveLine(v[0], v[1])
		}
	case "T*":
		in.moveLine(0, -g.tl)
	case "Tj":
		if len(args) >= 1 {
			in.show(args[len(args)-1].RawString())
		}
	case "'":
		if len(args) >= 1 {
			in.moveLine(0, -g.tl)
			in.show(args[len(args)-1].RawString())
		}
	case "\"":
		if len(args) >= 3 {
			g.tw = args[len(args)-3].Float64()
			g.tc = args[len(args)-2].Float64()
			in.moveLine(0, -g.tl)
			in.show(args[len(args)-1].RawString())
		}
	case "TJ":
		if len(args) < 1 {
			return
		}
		arr := args[len(args)-1]
		in.run++
		for i := 0; i < arr.Len(); i++ {
			x := arr.Index(i)
			switch x.Kind() {
			case pdf.String:
				in.showRun(x.RawString())
			case pdf.Integer, pdf.Real:
				adj := -x.Float64() / 1000 * g.tfs
				if g.font != nil && g.font.vertical {
					g.tm = matrix{1, 0, 0, 1, 0, adj}.mul(g.tm)
				} else {
					g.tm = matrix{1, 0, 0, 1, adj * g.th, 0}.mul(g.tm)
				}
			}
		}
	case "Do":
		if len(args) < 1 || depth >= maxFormDepth {
			return
		}
		xo := res.Key("XObject").Key(args[len(args)-1].Name())
		if xo.Kind() != pdf.Stream || xo.Key("Subtype").Name() != "Form" {
			return
		}
		saved := *g
		savedStack := len(in.stack)
		if m := xo.Key("Matrix"); m.Len() == 6 {
			var fm matrix
			for i := range 6 {
				fm[i] = m.Index(i).Float64()
			}
			g.ctm = fm.mul(g.ctm)
		}
		formRes := xo.Key("Resources")
		if formRes.IsNull() {
			formRes = res
		}
		in.interpret(xo, formRes, depth+1)
		*g = saved
		if len(in.stack) > savedStack {
			in.stack = in.stack[:savedStack]
		}
	}
}

func (in *pageInterp) moveLine(tx, ty float64) {
	in.g.tlm = matrix{1, 0, 0, 1, tx, ty}.mul(in.g.tlm)
	in.g.tm = in.g.tlm
}

// show draws one string as its own run.
func (in *pageInterp) show(s string) {
	in.run++
	in.showRun(s)
}

func (in *pageInterp) showRun(s string) {
	g := &in.g
	f := g.font
	if f == nil || s == "" {
		return
	}
	for _, code := range f.splitCodes(s) {
		w0 := f.width(code)
		trm := matrix{g.tfs * g.th, 0, 0, g.tfs, 0, g.rise}.mul(g.tm).mul(g.ctm)
		size := math.Hypot(trm[2], trm[3])
		in.glyphs = append(in.glyphs, rawGlyph{
			font: f, code: code, run: in.run,
			x: trm[4], y: trm[5],
			w: w0 * math.Hypot(trm[0], trm[1]), size: size,
		})
		spacing := g.tc
		if len(code) == 1 && code[0] == ' ' {
			spacing += g.tw
		}
		if f.vertical {
			ty := -1.0*g.tfs + spacing
			g.tm = matrix{1, 0, 0, 1, 0, ty}.mul(g.tm)
		} else {
			tx := (w0*g.tfs + spacing) * g.th
			g.tm = matrix{1, 0, 0, 1, tx, 0}.mul(g.tm)
		}
	}
}

// decodeGlyphs turns drawn codes into text. Simple fonts that may carry GBK
// bytes behind a Latin encoding are judged per page: when their high bytes
// pair up into valid CJK text, the pairs are re-read as GBK.
func decodeGlyphs(raw []rawGlyph) []pdfGlyph {
	gbk := map[*pdfFont]bool{}
	stats := map[*pdfFont]*gbkStats{}
	for i := 0; i < len(raw); i++ {
		f := raw[i].font
		if !f.gbkCandidate {
			continue
		}
		st := stats[f]
		if st == nil {
			st = &gbkStats{}
			stats[f] = st
		}
		b := raw[i].code[0]
		if b == ' ' {
			continue
		}
		st.bytes++
		if b < 0x80 {
			continue
		}
		st.high++
		if i+1 < len(raw) && raw[i+1].font == f && raw[i+1].run == raw[i].run {
			if _, ok := decodeGBKPair(b, raw[i+1].code[0]); ok {
				st.pairs++
				st.high++
				st.bytes++
				i++
			}
		}
	}
	for f, st := range stats {
		gbk[f] = st.looksLikeGBK()
	}
	out := make([]pdfGlyph, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		r := raw[i]
		if gbk[r.font] && r.code[0] >= 0x81 && i+1 < len(raw) && raw[i+1].font == r.font && raw[i+1].run == r.run {
			if s, ok := decodeGBKPair(r.code[0], raw[i+1].code[0]); ok {
				next := raw[i+1]
				w := next.x + next.w - r.x
				if w <= 0 {
					w = r.w + next.w
				}
				out = append(out, pdfGlyph{text: s, x: r.x, y: r.y, w: w, size: r.size})
				i++
				continue
			}
		}
		text := r.font.decode(r.code)
		if text == "" || isControlText(text) {
			continue // a glyph without text, or a .notdef drawn as code 0
		}
		out = append(out, pdfGlyph{text: text, x: r.x, y: r.y, w: r.w, size: r.size})
	}
	return out
}

type gbkStats struct{ bytes, high, pairs int }

// looksLikeGBK: the Latin-1 reading is implausible (most letters are high
// bytes) and nearly all high bytes pair into valid CJK characters.
func (s *gbkStats) looksLikeGBK() bool {
	if s.pairs == 0 || s.bytes == 0 {
		return false
	}
	highShare := float64(s.high) / float64(s.bytes)
	paired := float64(2*s.pairs) / float64(s.high)
	return highShare >= 0.4 && paired >= 0.9
}

// isControlText reports whether s holds only C0 control characters other
// than whitespace.
func isControlText(s string) bool {
	for _, r := range s {
		if r >= 0x20 || r == '\t' || r == '\n' || r == '\r' {
			return false
		}
	}
	return true
}
