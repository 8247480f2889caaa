package ingest

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/encoding/htmlindex"
)

func init() {
	RegisterLoader(htmlLoader{}, ".html", ".htm", ".xhtml")
}

// htmlLoader extracts the main text of a web page: navigation, scripts,
// forms and other chrome are dropped, h1–h6 become headings, tables become
// Table blocks and <title> becomes Parsed.Title.
type htmlLoader struct{}

func (htmlLoader) Format() string { return "html" }

var htmlTagHint = regexp.MustCompile(`(?i)<(?:!doctype html|html|head|body|p|div|table|h[1-6]|br|span|meta)[\s>/]`)

// Sniff accepts a doctype or <html> start, or common HTML tags near the start.
func (htmlLoader) Sniff(head []byte) bool {
	return looksLikeHTMLDocument(head) || len(htmlTagHint.FindAllIndex(head, 3)) >= 2
}

func (htmlLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	s, enc, err := decodeHTML(name, data)
	if err != nil {
		return nil, err
	}
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return nil, newParseError(name, ErrMalformed, "bad HTML", err)
	}
	p := &Parsed{Format: "html"}
	if enc != "utf-8" {
		p.Warnings = append(p.Warnings, "decoded as "+enc)
	}
	if t := findElement(doc, atom.Title); t != nil {
		p.Title = htmlText(t, false)
	}
	w := &htmlWalker{ctx: ctx}
	w.walk(mainContent(doc))
	w.flush()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.Blocks = w.blocks
	return p, nil
}

var metaCharset = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)`)

// decodeHTML converts a page to UTF-8: a BOM wins, then a <meta> charset
// that the bytes agree with, then the same detection as plain text.
func decodeHTML(name string, data []byte) (string, string, error) {
	if bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return decodeText(name, data, false)
	}
	if m := metaCharset.FindSubmatch(data[:min(len(data), 4096)]); m != nil {
		label := strings.ToLower(string(m[1]))
		if enc, err := htmlindex.Get(label); err == nil {
			canon, _ := htmlindex.Name(enc)
			switch canon {
			case "utf-8":
				if utf8.Valid(data) {
					return string(data), "utf-8", nil
				}
			case "gbk", "gb18030":
				return decodeText(name, data, false) // GB18030 decoding covers GBK and GB2312
			default:
				if b, err := enc.NewDecoder().Bytes(data); err == nil {
					return string(b), canon, nil
				}
			}
		}
	}
	return decodeText(name, data, false)
}

func findElement(n *html.Node, a atom.Atom) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == a {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findElement(c, a); f != nil {
			return f
		}
	}
	return nil
}

func findAll(n *html.Node, match func(*html.Node) bool, out []*html.Node) []*html.Node {
	if n.Type == html.ElementNode && match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = findAll(c, match, out)
	}
	return out
}

func getAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// mainContent picks the element holding the page's main text: the single
// <main> (or role=main), else the single <article>, else <body>.
func mainContent(doc *html.Node) *html.Node {
	mains := findAll(doc, func(n *html.Node) bool { return n.DataAtom == atom.Main || getAttr(n, "role") == "main" }, nil)
	if len(mains) == 1 {
		return mains[0]
	}
	arts := findAll(doc, func(n *html.Node) bool { return n.DataAtom == atom.Article }, nil)
	if len(arts) == 1 {
		return arts[0]
	}
	if b := findElement(doc, atom.Body); b != nil {
		return b
	}
	return doc
}

// skipped reports elements whose content is never document text.
func skipped(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Header:
		// A page header is chrome; an article's own header holds its title.
		for a := n.Parent; a != nil; a = a.Parent {
			if a.DataAtom == atom.Article || a.DataAtom == atom.Main {
				return false
			}
		}
		return true
	case atom.Script, atom.Style, atom.Noscript, atom.Nav, atom.Footer, atom.Aside,
		atom.Form, atom.Svg, atom.Template, atom.Iframe, atom.Button, atom.Select, atom.Textarea,
		atom.Head, atom.Object, atom.Embed, atom.Canvas, atom.Audio, atom.Video, atom.Math:
		return true
	}
	if n.Data == "svg" || n.Data == "math" {
		return true
	}
	if _, hidden := attrPresent(n, "hidden"); hidden || getAttr(n, "aria-hidden") == "true" {
		return true
	}
	style := strings.ReplaceAll(strings.ToLower(getAttr(n, "style")), " ", "")
	return strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden")
}

func attrPresent(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// isBlockElement reports elements that start and end a paragraph.
func isBlockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd, atom.Section,
		atom.Article, atom.Main, atom.Blockquote, atom.Figure, atom.Figcaption, atom.Address,
		atom.Center, atom.Hr, atom.Body, atom.Html, atom.Details, atom.Summary, atom.Caption,
		atom.Tr, atom.Td, atom.Th, atom.Thead, atom.Tbody, atom.Tfoot, atom.Fieldset, atom.Legend:
		return true
	}
	return false
}

type htmlWalker struct {
	ctx    context.Context
	blocks []Block
	buf    strings.Builder
	nodes  int
}

func (w *htmlWalker) flush() {
	text := collapseHTMLSpace(w.buf.String())
	w.buf.Reset()
	if strings.TrimSpace(text) != "" {
		w.blocks = append(w.blocks, Block{Kind: Paragraph, Text: text})
	}
}

func (w *htmlWalker) walk(n *html.Node) {
	w.nodes++
	if w.nodes%4096 == 0 && w.ctx.Err() != nil {
		return
	}
	switch n.Type {
	case html.TextNode:
		w.buf.WriteString(n.Data)
		return
	case html.ElementNode:
	case html.DocumentNode:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			w.walk(c)
		}
		return
	default:
		return
	}
	if skipped(n) {
		return
	}
	switch n.DataAtom {
	case atom.Br:
		w.buf.WriteRune('\u2028') // becomes a line break after clean-up
		return
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		w.flush()
		level, _ := strconv.Atoi(n.Data[1:])
		if t := htmlText(n, false); t != "" {
			w.blocks = append(w.blocks, Block{Kind: Heading, Level: level, Text: t})
		}
		return
	case atom.Pre:
		w.flush()
		if t := htmlText(n, true); strings.TrimSpace(t) != "" {
			w.blocks = append(w.blocks, Block{Kind: Code, Text: strings.Trim(t, "\n")})
		}
		return
	case atom.Table:
		rows := htmlTableRows(n)
		if tableColumns(rows) > 1 {
			w.flush()
			w.blocks = append(w.blocks, tableBlocks(rows)...)
			return
		}
		// A one-column table is layout: read its content as ordinary text.
	}
	block := isBlockElement(n.DataAtom)
	if block {
		w.flush()
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	if block {
		w.flush()
	}
}

// htmlText is the visible text under n, white space collapsed unless pre.
func htmlText(n *html.Node, pre bool) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return
		case html.ElementNode:
			if skipped(n) {
				return
			}
			if n.DataAtom == atom.Br {
				b.WriteByte('\n')
				return
			}
			if !pre && isBlockElement(n.DataAtom) {
				b.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
		if n.Type == html.ElementNode && !pre && isBlockElement(n.DataAtom) {
			b.WriteByte(' ')
		}
	}
	rec(n)
	if pre {
		return b.String()
	}
	return strings.TrimSpace(collapseHTMLSpace(b.String()))
}

// collapseHTMLSpace collapses white space the way a browser shows it, but
// drops a line break between two CJK characters instead of showing a space.
func collapseHTMLSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		if r == '\u2028' {
			b.WriteRune('\n')
			i++
			continue
		}
		if !unicode.IsSpace(r) || r == '\u3000' {
			b.WriteRune(r)
			i++
			continue
		}
		j, newline := i, false
		for j < len(rs) && unicode.IsSpace(rs[j]) && rs[j] != '\u2028' && rs[j] != '\u3000' {
			newline = newline || rs[j] == '\n'
			j++
		}
		prevCJK := i > 0 && isCJK(rs[i-1])
		nextCJK := j < len(rs) && isCJK(rs[j])
		if !(newline && prevCJK && nextCJK) {
			b.WriteByte(' ')
		}
		i = j
	}
	return b.String()
}

// htmlTableRows reads a table's rows (not those of nested tables), spreading
// colspan cells as empty cells and copying rowspan cells down.
func htmlTableRows(t *html.Node) [][]string {
	type pending struct {
		text string
		left int
	}
	spans := map[int]*pending{}
	var rows [][]string
	var visit func(*html.Node)
	visit = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipped(c) {
				continue
			}
			switch c.DataAtom {
			case atom.Table:
				continue
			case atom.Tr:
				var row []string
				col := 0
				fill := func() {
					for {
						p, ok := spans[col]
						if !ok || p.left == 0 {
							return
						}
						row = append(row, p.text)
						p.left--
						col++
					}
				}
				for cell := c.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.Type != html.ElementNode || (cell.DataAtom != atom.Td && cell.DataAtom != atom.Th) {
						continue
					}
					fill()
					text := htmlText(cell, false)
					cs, _ := strconv.Atoi(getAttr(cell, "colspan"))
					rsp, _ := strconv.Atoi(getAttr(cell, "rowspan"))
					cs = min(max(cs, 1), 100)
					rsp = min(max(rsp, 1), 1000)
					for k := 0; k < cs; k++ {
						v := ""
						if k == 0 {
							v = text
						}
						row = append(row, v)
						if rsp > 1 {
							spans[col] = &pending{text: v, left: rsp - 1}
						}
						col++
					}
				}
				fill()
				rows = append(rows, row)
			default:
				visit(c)
			}
		}
	}
	visit(t)
	return rows
}

func tableColumns(rows [][]string) int {
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	return n
}
