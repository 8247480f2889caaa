package ingest

import (
	"context"
	"fmt"
	"testing"
)

func TestMarkdownLoader(t *testing.T) {
	src := "---\ntitle: front matter is dropped\n---\n" +
		"# 报销制度\n\n引言有 **加粗**、*斜体*、~~删除~~ 和 `代码` 以及 [链接文字](http://x.cn) 与图片 ![图](a.png)。\n\n" +
		"第一章 总则\n==========\n\n" +
		"## 第一节 范围 ##\n\n" +
		"- 项目一\n- 项目二\n1. 第一步\n\n" +
		"```python\n# 这不是标题\nprint('hi')\n```\n\n" +
		"| 城市 | 经理 |\n|:---|---:|\n| 一线 | 700 |\n| 其他 | 380 |\n\n" +
		"Setext 二级\n---\n\n" +
		"> 引用的话\n> 第二行\n\n" +
		"    缩进代码\n\n" +
		"snake_case_name 与 \\*星号\\* 保留。<br/>\n\n" +
		"<!-- 注释\n多行 -->\n" +
		"[ref]: http://example.com\n" +
		"***\n"
	p, err := Parse(context.Background(), "制度.md", []byte(src), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Kind: Heading, Level: 1, Text: "报销制度"},
		{Kind: Paragraph, Text: "引言有 加粗、斜体、删除 和 代码 以及 链接文字 与图片 。", Headings: []string{"报销制度"}},
		{Kind: Heading, Level: 1, Text: "第一章 总则"},
		{Kind: Heading, Level: 2, Text: "第一节 范围", Headings: []string{"第一章 总则"}},
		{Kind: Paragraph, Text: "项目一", Headings: []string{"第一章 总则", "第一节 范围"}},
		{Kind: Paragraph, Text: "项目二", Headings: []string{"第一章 总则", "第一节 范围"}},
		{Kind: Paragraph, Text: "1. 第一步", Headings: []string{"第一章 总则", "第一节 范围"}},
		{Kind: Code, Text: "# 这不是标题\nprint('hi')", Headings: []string{"第一章 总则", "第一节 范围"}},
		{Kind: Table, Header: "城市 | 经理", Text: "城市: 一线; 经理: 700\n城市: 其他; 经理: 380", Headings: []string{"第一章 总则", "第一节 范围"}},
		{Kind: Heading, Level: 2, Text: "Setext 二级", Headings: []string{"第一章 总则"}},
		{Kind: Paragraph, Text: "引用的话\n第二行", Headings: []string{"第一章 总则", "Setext 二级"}},
		{Kind: Code, Text: "    缩进代码", Headings: []string{"第一章 总则", "Setext 二级"}},
		{Kind: Paragraph, Text: "snake_case_name 与 *星号* 保留。", Headings: []string{"第一章 总则", "Setext 二级"}},
	}
	if p.Title != "报销制度" || p.Format != "markdown" {
		t.Errorf("title %q format %q", p.Title, p.Format)
	}
	if got, w := fmt.Sprintf("%#v", p.Blocks), fmt.Sprintf("%#v", want); got != w {
		for i := 0; i < max(len(p.Blocks), len(want)); i++ {
			var g, x Block
			if i < len(p.Blocks) {
				g = p.Blocks[i]
			}
			if i < len(want) {
				x = want[i]
			}
			if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", x) {
				t.Errorf("block %d\n got %#v\nwant %#v", i, g, x)
			}
		}
	}
}

func TestStripInline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"**粗** 和 __粗__", "粗 和 粗"},
		{"*a* _b_ ~~c~~", "a b c"},
		{"[文字](http://a.b/c_(d)) 与 [引用][r]", "文字 与 引用"},
		{"![alt](x.png)后文", "后文"},
		{"<https://example.com/a_b>", "https://example.com/a_b"},
		{"`a*b*c` 与 *d*", "a*b*c 与 d"},
		{"a * b * c = 24", "a * b * c = 24"},
		{"file_name_here", "file_name_here"},
		{`\_not emphasis\_`, "_not emphasis_"},
		{"<span class=\"x\">文字</span>", "文字"},
	} {
		if got := stripInline(tc.in); got != tc.want {
			t.Errorf("stripInline(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
