package ingest

import "strings"

// tableHeaderSep joins the header cells in Block.Header.
const tableHeaderSep = " | "

// tableBlocks renders table rows as blocks. The first non-empty row is the
// header; every other row becomes one line "header: value; header: value"
// (a value whose header is empty or equal to it is written alone, empty
// values are left out). A table with no data rows becomes a paragraph.
func tableBlocks(rows [][]string) []Block {
	var clean [][]string
	for _, row := range rows {
		cells := make([]string, len(row))
		empty := true
		for i, c := range row {
			c = collapseSpaces(cleanText(c, false))
			cells[i] = c
			if c != "" {
				empty = false
			}
		}
		if !empty {
			clean = append(clean, cells)
		}
	}
	if len(clean) == 0 {
		return nil
	}
	header := clean[0]
	if len(clean) == 1 {
		return []Block{{Kind: Paragraph, Text: joinNonEmpty(header, tableHeaderSep)}}
	}
	var b strings.Builder
	for _, row := range clean[1:] {
		line := renderRow(header, row)
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return []Block{{Kind: Table, Text: b.String(), Header: joinNonEmpty(header, tableHeaderSep)}}
}

func renderRow(header, row []string) string {
	var parts []string
	for i, v := range row {
		if v == "" {
			continue
		}
		h := ""
		if i < len(header) {
			h = header[i]
		}
		if h == "" || h == v {
			parts = append(parts, v)
		} else {
			parts = append(parts, h+": "+v)
		}
	}
	return strings.Join(parts, "; ")
}

func joinNonEmpty(cells []string, sep string) string {
	var parts []string
	for _, c := range cells {
		if c != "" {
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, sep)
}
