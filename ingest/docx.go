package ingest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
)

func init() {
	RegisterLoader(docxLoader{}, ".docx", ".docm", ".dotx")
}

// docxLoader reads Office Open XML word-processing documents with the
// standard library: paragraphs in order, headings from paragraph styles and
// outline levels, tables as Table blocks.
type docxLoader struct{}

func (docxLoader) Format() string { return "docx" }

// Sniff looks for a zip whose first entries include a word/ part.
func (docxLoader) Sniff(head []byte) bool {
	return strings.HasPrefix(string(head), "PK\x03\x04") && strings.Contains(string(head), "word/")
}

func (docxLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	z, err := openOffice(ctx, name, data, "document")
	if err != nil {
		return nil, err
	}
	main := officeMainPart(z, "word/document.xml")
	if !z.has(main) {
		return nil, newParseError(name, ErrMalformed, "no main document part ("+main+")", nil)
	}
	p := &Parsed{Format: "docx"}
	styles := map[string]docxStyle{}
	stylesPath := path.Join(path.Dir(main), "styles.xml")
	if z.has(stylesPath) {
		if styles, err = readDocxStyles(z, stylesPath); err != nil {
			if !errors.Is(err, ErrMalformed) {
				return nil, err
			}
			p.Warnings = append(p.Warnings, "styles ignored: "+err.Error())
			styles = map[string]docxStyle{}
		}
	}
	if z.has("docProps/core.xml") {
		if b, err := z.read("docProps/core.xml"); err == nil {
			p.Title = coreTitle(b)
		} else if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
	}
	rc, err := z.open(main)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	w := &docxWalker{ctx: ctx, styles: styles}
	if err := w.walk(rc); err != nil {
		var pe *ParseError
		if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, newParseError(name, ErrMalformed, "invalid XML in "+main, err)
	}
	p.Blocks = w.blocks
	if p.Title == "" {
		p.Title = w.title
	}
	return p, nil
}

// openOffice opens an Office Open XML package (what: "document",
// "workbook") within the size limits, refusing an encrypted one.
func openOffice(ctx context.Context, name string, data []byte, what string) (*zipArchive, error) {
	z, err := openZip(name, data, limitsFrom(ctx))
	if err != nil {
		return nil, err
	}
	if z.has("EncryptionInfo") || z.has("EncryptedPackage") {
		return nil, newParseError(name, ErrEncrypted, "the "+what+" is encrypted", nil)
	}
	return z, nil
}

// officeMainPart finds the main part named by the package relationships
// (_rels/.rels), falling back to def.
func officeMainPart(z *zipArchive, def string) string {
	if !z.has("_rels/.rels") {
		return def
	}
	b, err := z.read("_rels/.rels")
	if err != nil {
		return def
	}
	var rels struct {
		Rel []struct {
			Type   string `xml:"Type,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if xml.Unmarshal(b, &rels) != nil {
		return def
	}
	for _, r := range rels.Rel {
		if strings.HasSuffix(r.Type, "/officeDocument") && r.Target != "" {
			t := strings.TrimPrefix(path.Clean("/"+r.Target), "/")
			if z.has(t) {
				return t
			}
		}
	}
	return def
}

func coreTitle(b []byte) string {
	var core struct {
		Title string `xml:"title"`
	}
	if xml.Unmarshal(b, &core) != nil {
		return ""
	}
	return strings.TrimSpace(core.Title)
}

type docxStyle struct {
	name    string
	outline int // -1 when the style sets none
	basedOn string
}

func readDocxStyles(z *zipArchive, p string) (map[string]docxStyle, error) {
	b, err := z.read(p)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Styles []struct {
			ID      string `xml:"styleId,attr"`
			Name    xmlVal `xml:"name"`
			BasedOn xmlVal `xml:"basedOn"`
			PPr     struct {
				Outline *xmlVal `xml:"outlineLvl"`
			} `xml:"pPr"`
		} `xml:"style"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, newParseError(z.name, ErrMalformed, "invalid XML in "+p, err)
	}
	out := make(map[string]docxStyle, len(doc.Styles))
	for _, s := range doc.Styles {
		st := docxStyle{name: s.Name.Val, basedOn: s.BasedOn.Val, outline: -1}
		if s.PPr.Outline != nil {
			if n, err := strconv.Atoi(s.PPr.Outline.Val); err == nil {
				st.outline = n
			}
		}
		out[s.ID] = st
	}
	return out, nil
}

type xmlVal struct {
	Val string `xml:"val,attr"`
}

var headingStyleName = regexp.MustCompile(`(?i)^(?:heading|标题|見出し)\s*([1-9])$`)

// headingLevel returns the heading level a paragraph style gives, or 0.
func headingLevel(styles map[string]docxStyle, id string) int {
	for steps := 0; id != "" && steps < 16; steps++ {
		st, ok := styles[id]
		name := st.name
		if !ok {
			name = id
		}
		if ok && st.outline >= 0 && st.outline < 9 {
			return st.outline + 1
		}
		for _, n := range []string{name, id} {
			if m := headingStyleName.FindStringSubmatch(strings.TrimSpace(n)); m != nil {
				return int(m[1][0] - '0')
			}
			if strings.EqualFold(n, "title") || n == "标题" {
				return 1
			}
		}
		if !ok {
			return 0
		}
		id = st.basedOn
	}
	return 0
}

func isTitleStyle(styles map[string]docxStyle, id string) bool {
	return strings.EqualFold(id, "title") || strings.EqualFold(styles[id].name, "title") || styles[id].name == "标题"
}

type docxTable struct {
	rows    [][]string
	row     []string
	prevRow []string
	cell    strings.Builder
	span    int
	vmerge  bool // the current cell continues a vertical merge
}

// docxWalker streams document.xml and collects blocks.
type docxWalker struct {
	ctx    context.Context
	styles map[string]docxStyle
	blocks []Block
	title  string

	paraDepth int
	para      strings.Builder
	style     string
	outline   int
	inPPr     int
	inTcPr    int
	inText    bool
	tables    []*docxTable
}

func (w *docxWalker) out() *strings.Builder {
	if n := len(w.tables); n > 0 {
		return &w.tables[n-1].cell
	}
	return &w.para
}

func (w *docxWalker) walk(r io.Reader) error {
	dec := xml.NewDecoder(r)
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := w.start(dec, t); err != nil {
				return err
			}
		case xml.EndElement:
			w.end(t)
		case xml.CharData:
			if w.inText {
				w.out().Write(t)
			}
		}
	}
	if len(w.tables) > 0 || w.paraDepth > 0 {
		return fmt.Errorf("document ends inside an open paragraph or table")
	}
	return nil
}

func attrVal(se xml.StartElement, local string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

const markupCompatNS = "http://schemas.openxmlformats.org/markup-compatibility/2006"

func (w *docxWalker) start(dec *xml.Decoder, se xml.StartElement) error {
	inTable := len(w.tables) > 0
	switch se.Name.Local {
	case "Fallback":
		if se.Name.Space == markupCompatNS {
			return dec.Skip() // duplicate of the mc:Choice content
		}
	case "del", "moveFrom":
		return dec.Skip() // tracked deletions
	case "p":
		if !inTable {
			w.paraDepth++
			if w.paraDepth == 1 {
				w.para.Reset()
				w.style, w.outline = "", -1
			}
		}
	case "pPr":
		w.inPPr++
	case "tcPr":
		w.inTcPr++
	case "pStyle":
		if w.inPPr > 0 && !inTable && w.paraDepth == 1 {
			w.style, _ = attrVal(se, "val")
		}
	case "outlineLvl":
		if w.inPPr > 0 && !inTable && w.paraDepth == 1 {
			if v, ok := attrVal(se, "val"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					w.outline = n
				}
			}
		}
	case "t":
		w.inText = true
	case "tab":
		if w.inPPr == 0 {
			w.out().WriteByte('\t')
		}
	case "br", "cr":
		w.out().WriteByte('\n')
	case "noBreakHyphen":
		w.out().WriteByte('-')
	case "tbl":
		w.tables = append(w.tables, &docxTable{})
	case "tr":
		if inTable {
			t := w.tables[len(w.tables)-1]
			t.row = nil
		}
	case "tc":
		if inTable {
			t := w.tables[len(w.tables)-1]
			t.cell.Reset()
			t.span, t.vmerge = 1, false
		}
	case "gridSpan":
		if inTable && w.inTcPr > 0 {
			if v, ok := attrVal(se, "val"); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 1 && n < 64 {
					w.tables[len(w.tables)-1].span = n
				}
			}
		}
	case "vMerge":
		if inTable && w.inTcPr > 0 {
			if v, _ := attrVal(se, "val"); v == "" || v == "continue" {
				w.tables[len(w.tables)-1].vmerge = true
			}
		}
	}
	return nil
}

func (w *docxWalker) end(ee xml.EndElement) {
	inTable := len(w.tables) > 0
	switch ee.Name.Local {
	case "t":
		w.inText = false
	case "pPr":
		w.inPPr = max(w.inPPr-1, 0)
	case "tcPr":
		w.inTcPr = max(w.inTcPr-1, 0)
	case "p":
		if inTable {
			w.out().WriteByte('\n')
			return
		}
		if w.paraDepth == 0 {
			return
		}
		w.paraDepth--
		if w.paraDepth > 0 {
			w.para.WriteByte('\n') // a text-box paragraph inside a paragraph
			return
		}
		w.emitParagraph()
	case "tc":
		if !inTable {
			return
		}
		t := w.tables[len(w.tables)-1]
		text := collapseSpaces(t.cell.String())
		col := len(t.row)
		if t.vmerge && text == "" && col < len(t.prevRow) {
			text = t.prevRow[col]
		}
		t.row = append(t.row, text)
		for i := 1; i < t.span; i++ {
			t.row = append(t.row, "")
		}
	case "tr":
		if !inTable {
			return
		}
		t := w.tables[len(w.tables)-1]
		t.rows = append(t.rows, t.row)
		t.prevRow, t.row = t.row, nil
	case "tbl":
		if !inTable {
			return
		}
		t := w.tables[len(w.tables)-1]
		w.tables = w.tables[:len(w.tables)-1]
		if len(w.tables) > 0 || w.paraDepth > 0 {
			// A nested table (or one in a text box) is flattened into the enclosing text.
			var flat []string
			for _, row := range t.rows {
				flat = append(flat, joinNonEmpty(row, " "))
			}
			w.out().WriteString(" " + strings.Join(flat, " ") + " ")
			return
		}
		w.blocks = append(w.blocks, tableBlocks(t.rows)...)
	}
}

func (w *docxWalker) emitParagraph() {
	text := w.para.String()
	w.para.Reset()
	if strings.TrimSpace(text) == "" {
		return
	}
	level := 0
	if w.outline >= 0 && w.outline < 9 {
		level = w.outline + 1
	} else if w.style != "" {
		level = headingLevel(w.styles, w.style)
	}
	if level > 0 {
		if w.title == "" && isTitleStyle(w.styles, w.style) {
			w.title = collapseSpaces(text)
		}
		w.blocks = append(w.blocks, Block{Kind: Heading, Text: text, Level: level})
		return
	}
	w.blocks = append(w.blocks, Block{Kind: Paragraph, Text: text})
}
