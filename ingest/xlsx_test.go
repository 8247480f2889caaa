package ingest

import (
	"context"
	"fmt"
	"testing"
)

func TestXlsxLoader(t *testing.T) {
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	data := buildTestZip(t,
		zipEntry{"xl/workbook.xml", `<workbook ` + ns + `><sheets><sheet name="住宿标准" sheetId="1" r:id="rId1"/><sheet name="空表" sheetId="2" r:id="rId2"/><sheet name="Misc" sheetId="3" r:id="rId3"/></sheets></workbook>`},
		zipEntry{"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/>` +
			`<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/other.xml"/>` +
			`<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`},
		zipEntry{"xl/sharedStrings.xml", `<sst ` + ns + `><si><t>城市等级</t></si><si><t>部门经理</t></si><si><r><t>一线</t></r><r><t>城市</t></r><rPh><t>いっせん</t></rPh></si><si><t>备注</t></si></sst>`},
		zipEntry{"xl/worksheets/sheet1.xml", `<worksheet ` + ns + `><sheetData>` +
			`<row r="1"/>` + // an empty first row: the header is the first non-empty one
			`<row r="2"><c r="B2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c><c r="D2" t="s"><v>3</v></c></row>` +
			`<row r="3"><c r="B3" t="s"><v>2</v></c><c r="C3"><v>700</v></c><c r="D3" t="inlineStr"><is><t>含早</t></is></c></row>` +
			`<row r="5"><c r="B5" t="str"><f>A1</f><v>公式结果</v></c><c r="C5"><v>0.30000000000000004</v></c><c r="D5" t="b"><v>1</v></c></row>` +
			`</sheetData></worksheet>`},
		zipEntry{"xl/worksheets/sheet2.xml", `<worksheet ` + ns + `><sheetData/></worksheet>`},
		zipEntry{"xl/worksheets/other.xml", `<worksheet ` + ns + `><sheetData><row><c t="inlineStr"><is><t>键</t></is></c><c t="inlineStr"><is><t>值</t></is></c></row><row><c><v>1.5E3</v></c><c t="e"><v>#N/A</v></c></row></sheetData></worksheet>`},
	)
	p, err := Parse(context.Background(), "标准.xlsx", data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Kind: Heading, Level: 1, Text: "住宿标准"},
		{Kind: Table, Header: "城市等级 | 部门经理 | 备注", Headings: []string{"住宿标准"},
			Text: "城市等级: 一线城市; 部门经理: 700; 备注: 含早\n城市等级: 公式结果; 部门经理: 0.3; 备注: TRUE"},
		{Kind: Heading, Level: 1, Text: "Misc"},
		{Kind: Table, Header: "键 | 值", Headings: []string{"Misc"}, Text: "键: 1500; 值: #N/A"},
	}
	if p.Format != "xlsx" {
		t.Errorf("format %q", p.Format)
	}
	if got, w := fmt.Sprintf("%#v", p.Blocks), fmt.Sprintf("%#v", want); got != w {
		t.Errorf("blocks\n got %s\nwant %s", got, w)
	}
}

func TestFormatNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"700", "700"}, {"0.30000000000000004", "0.3"}, {"1.5E3", "1500"}, {"-2.5", "-2.5"},
		{"12345678901234567890", "1.23456789012346e+19"}, {"abc", "abc"}, {"0", "0"},
	} {
		if got := formatNumber(tc.in); got != tc.want {
			t.Errorf("formatNumber(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
