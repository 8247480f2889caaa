package ingest

import (
	"context"
	"fmt"
	"testing"
)

func docxPara(style, text string) string {
	ppr := ""
	if style != "" {
		ppr = `<w:pPr><w:pStyle w:val="` + style + `"/><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>`
	}
	return `<w:p>` + ppr + `<w:r><w:t xml:space="preserve">` + text + `</w:t></w:r></w:p>`
}

func docxCell(text, props string) string {
	return `<w:tc><w:tcPr>` + props + `</w:tcPr><w:p><w:r><w:t>` + text + `</w:t></w:r></w:p></w:tc>`
}

func TestDocxLoader(t *testing.T) {
	styles := `<w:style w:type="paragraph" w:styleId="a"><w:name w:val="Normal"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/><w:basedOn w:val="a"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="2"><w:name w:val="标题 2"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Chapter"><w:name w:val="Chapter"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Sub"><w:name w:val="Sub"/><w:basedOn w:val="2"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="TitleX"><w:name w:val="Title"/></w:style>`
	tests := []struct {
		name   string
		body   string
		styles string
		title  string
		want   []Block
	}{
		{
			name:   "heading styles",
			styles: styles,
			body: docxPara("TitleX", "报销手册") + docxPara("1", "第一章 总则") + docxPara("a", "正文一。") +
				docxPara("Sub", "第一节 范围") + docxPara("", "正文二。") + docxPara("Chapter", "第二章 标准") +
				`<w:p><w:pPr><w:outlineLvl w:val="2"/></w:pPr><w:r><w:t>大纲三级</w:t></w:r></w:p>` + docxPara("Heading4", "无样式表也认") +
				docxPara("unknown", "普通段落"),
			title: "报销手册",
			want: []Block{
				{Kind: Heading, Level: 1, Text: "报销手册"},
				{Kind: Heading, Level: 1, Text: "第一章 总则"},
				{Kind: Paragraph, Text: "正文一。", Headings: []string{"第一章 总则"}},
				{Kind: Heading, Level: 2, Text: "第一节 范围", Headings: []string{"第一章 总则"}},
				{Kind: Paragraph, Text: "正文二。", Headings: []string{"第一章 总则", "第一节 范围"}},
				{Kind: Heading, Level: 1, Text: "第二章 标准"},
				{Kind: Heading, Level: 3, Text: "大纲三级", Headings: []string{"第二章 标准"}},
				{Kind: Heading, Level: 4, Text: "无样式表也认", Headings: []string{"第二章 标准", "大纲三级"}},
				{Kind: Paragraph, Text: "普通段落", Headings: []string{"第二章 标准", "大纲三级", "无样式表也认"}},
			},
		},
		{
			name: "runs, tabs, breaks, tracked changes, fields and alternate content",
			body: `<w:p><w:r><w:t>甲</w:t><w:tab/><w:t>乙</w:t><w:br/><w:t>丙</w:t></w:r>` +
				`<w:del><w:r><w:delText>删掉的</w:delText></w:r></w:del>` +
				`<w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:noBreakHyphen/><w:t>丁</w:t></w:r></w:p>` +
				`<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></mc:Choice>` +
				`<mc:Fallback><w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent></w:r><w:r><w:t>之后</w:t></w:r></w:p>`,
			want: []Block{
				{Kind: Paragraph, Text: "甲\t乙\n丙-丁"},
				{Kind: Paragraph, Text: "文本框\n之后"},
			},
		},
		{
			name: "table with merged cells",
			body: docxPara("", "前文") + `<w:tbl><w:tr>` + docxCell("地区", "") + docxCell("级别", "") + docxCell("限额", "") + `</w:tr>` +
				`<w:tr>` + docxCell("一线", `<w:vMerge w:val="restart"/>`) + docxCell("经理", "") + docxCell("700", "") + `</w:tr>` +
				`<w:tr>` + docxCell("", `<w:vMerge/>`) + docxCell("员工", "") + docxCell("550", "") + `</w:tr>` +
				`<w:tr>` + docxCell("合计不设上限", `<w:gridSpan w:val="2"/>`) + docxCell("—", "") + `</w:tr></w:tbl>`,
			want: []Block{
				{Kind: Paragraph, Text: "前文"},
				{Kind: Table, Header: "地区 | 级别 | 限额", Text: "地区: 一线; 级别: 经理; 限额: 700\n地区: 一线; 级别: 员工; 限额: 550\n地区: 合计不设上限; 限额: —"},
			},
		},
		{
			name: "nested table is flattened into its cell",
			body: `<w:tbl><w:tr>` + docxCell("项目", "") + docxCell("说明", "") + `</w:tr><w:tr>` + docxCell("住宿", "") +
				`<w:tc><w:tbl><w:tr>` + docxCell("内层", "") + docxCell("表", "") + `</w:tr></w:tbl></w:tc></w:tr></w:tbl>`,
			want: []Block{{Kind: Table, Header: "项目 | 说明", Text: "项目: 住宿; 说明: 内层 表"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(context.Background(), "t.docx", testDocx(t, tc.body, tc.styles), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != "docx" || p.Title != tc.title {
				t.Errorf("format %q title %q, want docx %q", p.Format, p.Title, tc.title)
			}
			if got, want := fmt.Sprintf("%#v", p.Blocks), fmt.Sprintf("%#v", tc.want); got != want {
				t.Errorf("blocks\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestDocxCoreTitleAndRelationships(t *testing.T) {
	data := buildTestZip(t,
		zipEntry{"_rels/.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document2.xml"/></Relationships>`},
		zipEntry{"word/document2.xml", `<w:document ` + testWordNS + `><w:body>` + docxPara("", "主文档在别处") + `</w:body></w:document>`},
		zipEntry{"docProps/core.xml", `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>核心标题</dc:title></cp:coreProperties>`},
	)
	p, err := Parse(context.Background(), "rels.docx", data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "核心标题" || p.Text() != "主文档在别处" {
		t.Errorf("title %q text %q", p.Title, p.Text())
	}
}
