package ingest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

func init() {
	RegisterLoader(xlsxLoader{}, ".xlsx", ".xlsm")
}

// xlsxLoader reads Office Open XML workbooks: every sheet becomes a Heading
// with the sheet name followed by a Table block.
type xlsxLoader struct{}

func (xlsxLoader) Format() string { return "xlsx" }

// Sniff looks for a zip whose first entries include an xl/ part.
func (xlsxLoader) Sniff(head []byte) bool {
	return strings.HasPrefix(string(head), "PK\x03\x04") && strings.Contains(string(head), "xl/")
}

// maxSheetColumns is the widest sheet Excel allows.
const maxSheetColumns = 16384

type xlsxSheet struct{ name, rid string }

func (xlsxLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	z, err := openOffice(ctx, name, data, "workbook")
	if err != nil {
		return nil, err
	}
	main := officeMainPart(z, "xl/workbook.xml")
	wb, err := z.read(main)
	if err != nil {
		return nil, err
	}
	sheets, err := workbookSheets(wb)
	if err != nil {
		return nil, newParseError(name, ErrMalformed, "invalid XML in "+main, err)
	}
	dir := path.Dir(main)
	relsPath := path.Join(dir, "_rels", path.Base(main)+".rels")
	targets := map[string]string{}
	sharedPath := path.Join(dir, "sharedStrings.xml")
	if z.has(relsPath) {
		b, err := z.read(relsPath)
		if err != nil {
			return nil, err
		}
		var rels struct {
			Rel []struct {
				ID     string `xml:"Id,attr"`
				Type   string `xml:"Type,attr"`
				Target string `xml:"Target,attr"`
			} `xml:"Relationship"`
		}
		if err := xml.Unmarshal(b, &rels); err != nil {
			return nil, newParseError(name, ErrMalformed, "invalid XML in "+relsPath, err)
		}
		for _, r := range rels.Rel {
			t := r.Target
			if strings.HasPrefix(t, "/") {
				t = strings.TrimPrefix(path.Clean(t), "/")
			} else {
				t = path.Join(dir, t)
			}
			targets[r.ID] = t
			if strings.HasSuffix(r.Type, "/sharedStrings") {
				sharedPath = t
			}
		}
	}
	var shared []string
	if z.has(sharedPath) {
		if shared, err = readSharedStrings(ctx, z, sharedPath); err != nil {
			return nil, err
		}
	}
	p := &Parsed{Format: "xlsx"}
	if z.has("docProps/core.xml") {
		if b, err := z.read("docProps/core.xml"); err == nil {
			p.Title = coreTitle(b)
		}
	}
	for i, sh := range sheets {
		target, ok := targets[sh.rid]
		if !ok {
			target = path.Join(dir, "worksheets", fmt.Sprintf("sheet%d.xml", i+1))
		}
		if !z.has(target) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("sheet %q: part %s is missing", sh.name, target))
			continue
		}
		rows, err := readSheetRows(ctx, z, target, shared)
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				p.Warnings = append(p.Warnings, fmt.Sprintf("sheet %q unreadable: %v", sh.name, err))
				continue
			}
			return nil, err
		}
		tb := tableBlocks(rows)
		if len(tb) == 0 {
			continue
		}
		p.Blocks = append(p.Blocks, Block{Kind: Heading, Level: 1, Text: sh.name})
		p.Blocks = append(p.Blocks, tb...)
	}
	return p, nil
}

func workbookSheets(b []byte) ([]xlsxSheet, error) {
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	var out []xlsxSheet
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "sheet" {
			continue
		}
		var sh xlsxSheet
		for _, a := range se.Attr {
			switch {
			case a.Name.Local == "name":
				sh.name = a.Value
			case a.Name.Local == "id" && a.Name.Space != "":
				sh.rid = a.Value
			}
		}
		out = append(out, sh)
	}
}

// readSharedStrings reads the shared string table; phonetic runs are skipped.
func readSharedStrings(ctx context.Context, z *zipArchive, p string) ([]string, error) {
	rc, err := z.open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := xml.NewDecoder(rc)
	var out []string
	var cur strings.Builder
	inSI, inT := false, false
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, xmlPartError(z.name, p, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				inSI = true
				cur.Reset()
			case "t":
				inT = inSI
			case "rPh":
				if err := dec.Skip(); err != nil {
					return nil, xmlPartError(z.name, p, err)
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				out = append(out, cur.String())
				inSI = false
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				cur.Write(t)
			}
		}
	}
}

func xmlPartError(name, part string, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return err
	}
	return newParseError(name, ErrMalformed, "invalid XML in "+part, err)
}

// readSheetRows streams one worksheet into rows of cell texts.
func readSheetRows(ctx context.Context, z *zipArchive, p string, shared []string) ([][]string, error) {
	rc, err := z.open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := xml.NewDecoder(rc)
	var (
		rows             [][]string
		row              []string
		cellType, ref    string
		val              strings.Builder
		inV, inT, inCell bool
		nextCol          int
	)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tok, err := dec.Token()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, xmlPartError(z.name, p, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "row":
				row, nextCol = nil, 0
			case "c":
				inCell = true
				cellType, ref = "", ""
				val.Reset()
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "t":
						cellType = a.Value
					case "r":
						ref = a.Value
					}
				}
			case "v":
				inV = inCell
			case "t":
				inT = inCell
			case "rPh":
				if err := dec.Skip(); err != nil {
					return nil, xmlPartError(z.name, p, err)
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v":
				inV = false
			case "t":
				inT = false
			case "c":
				inCell = false
				col := nextCol
				if c, ok := columnIndex(ref); ok {
					col = c
				}
				if col >= maxSheetColumns {
					return nil, newParseError(z.name, ErrMalformed, fmt.Sprintf("%s: cell %s is beyond the last column", p, ref), nil)
				}
				text := cellText(cellType, val.String(), shared)
				for len(row) <= col {
					row = append(row, "")
				}
				row[col] = text
				nextCol = col + 1
			case "row":
				rows = append(rows, row)
				row = nil
			}
		case xml.CharData:
			if inV || inT {
				val.Write(t)
			}
		}
	}
}

// columnIndex turns the letters of a cell reference ("AB12") into a 0-based column.
func columnIndex(ref string) (int, bool) {
	col, n := 0, 0
	for _, r := range ref {
		if r >= 'A' && r <= 'Z' {
			col = col*26 + int(r-'A'+1)
			n++
			if n > 3 {
				return 0, false
			}
			continue
		}
		break
	}
	if n == 0 {
		return 0, false
	}
	return col - 1, true
}

func cellText(typ, v string, shared []string) string {
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(shared) {
			return ""
		}
		return shared[i]
	case "b":
		if strings.TrimSpace(v) == "1" {
			return "TRUE"
		}
		return "FALSE"
	case "str", "inlineStr", "e":
		return v
	}
	return formatNumber(v)
}

// formatNumber prints a stored number without binary floating-point noise
// (0.30000000000000004 becomes 0.3).
func formatNumber(v string) string {
	v = strings.TrimSpace(v)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	if err != nil {
		return v
	}
	if r != 0 && (r >= 1e15 || r <= -1e15 || (r < 1e-6 && r > -1e-6)) {
		return strconv.FormatFloat(r, 'g', -1, 64)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
