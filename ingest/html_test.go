package ingest

import (
	"context"
	"fmt"
	"testing"
)

func TestHTMLLoader(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		title string
		want  []Block
	}{
		{
			name: "chrome dropped, headings, lists, tables with spans",
			data: []byte(`<!DOCTYPE html><html><head><title> 差旅 制度 </title><style>p{}</style><script>var x = "不要";</script></head>
<body><header>站点页眉</header><nav><a href="/">首页</a></nav>
<h1>员工差旅</h1><p>第一条
规定。<br>第二行 <b>加粗</b> 文字</p>
<div>块<span>内联</span></div><ul><li>甲</li><li>乙</li></ul>
<form><input value="x">表单</form><aside>侧栏</aside><noscript>无脚本</noscript>
<p hidden>隐藏</p><p style="display: none">也隐藏</p>
<h2>标准</h2>
<table><thead><tr><th>城市</th><th>级别</th><th>限额</th></tr></thead>
<tbody><tr><td rowspan="2">一线</td><td>经理</td><td>700</td></tr><tr><td>员工</td><td>550</td></tr>
<tr><td colspan="2">其他</td><td>300</td></tr></tbody></table>
<table><tr><td><p>布局表格里的段落</p></td></tr></table>
<pre>  代码  行
第二行</pre><svg><text>图</text></svg>
<footer>版权所有</footer></body></html>`),
			title: "差旅 制度",
			want: []Block{
				{Kind: Heading, Level: 1, Text: "员工差旅"},
				{Kind: Paragraph, Text: "第一条规定。\n第二行 加粗 文字", Headings: []string{"员工差旅"}},
				{Kind: Paragraph, Text: "块内联", Headings: []string{"员工差旅"}},
				{Kind: Paragraph, Text: "甲", Headings: []string{"员工差旅"}},
				{Kind: Paragraph, Text: "乙", Headings: []string{"员工差旅"}},
				{Kind: Heading, Level: 2, Text: "标准", Headings: []string{"员工差旅"}},
				{Kind: Table, Header: "城市 | 级别 | 限额", Text: "城市: 一线; 级别: 经理; 限额: 700\n城市: 一线; 级别: 员工; 限额: 550\n城市: 其他; 限额: 300", Headings: []string{"员工差旅", "标准"}},
				{Kind: Paragraph, Text: "布局表格里的段落", Headings: []string{"员工差旅", "标准"}},
				{Kind: Code, Text: "  代码  行\n第二行", Headings: []string{"员工差旅", "标准"}},
			},
		},
		{
			name:  "main element chosen, GBK declared by meta",
			data:  append(append([]byte(`<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"><title>`), gbk(t, "标题")...), append([]byte(`</title></head><body><div>菜单</div><main><p>`), append(gbk(t, "正文内容。"), []byte(`</p></main></body></html>`)...)...)...),
			title: "标题",
			want:  []Block{{Kind: Paragraph, Text: "正文内容。"}},
		},
		{
			name: "article header kept, page header dropped",
			data: []byte(`<html><body><header>站点</header><article><header><h1>文章标题</h1></header><p>正文。</p><footer>作者信息</footer></article></body></html>`),
			want: []Block{{Kind: Heading, Level: 1, Text: "文章标题"}, {Kind: Paragraph, Text: "正文。", Headings: []string{"文章标题"}}},
		},
		{
			name: "GBK without declaration is detected",
			data: append([]byte("<html><body><p>"), append(gbk(t, "没有声明编码的网页。"), []byte("</p></body></html>")...)...),
			want: []Block{{Kind: Paragraph, Text: "没有声明编码的网页。"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(context.Background(), "page.html", tc.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Title != tc.title || p.Format != "html" {
				t.Errorf("title %q format %q, want %q html", p.Title, p.Format, tc.title)
			}
			if got, w := fmt.Sprintf("%#v", p.Blocks), fmt.Sprintf("%#v", tc.want); got != w {
				t.Errorf("blocks\n got %s\nwant %s", got, w)
			}
		})
	}
}
