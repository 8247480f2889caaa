package ingest

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestCSVLoader(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		data   []byte
		header string
		text   string
	}{
		{"comma with quotes", "a.csv", []byte("城市,限额,说明\n一线,700,\"含早, 含税\"\n其他,380,\"两行\n说明\"\n"),
			"城市 | 限额 | 说明", "城市: 一线; 限额: 700; 说明: 含早, 含税\n城市: 其他; 限额: 380; 说明: 两行 说明"},
		{"semicolon sniffed", "b.csv", []byte("name;amount;note\nhotel;700;a,b\ntaxi;120;c\n"),
			"name | amount | note", "name: hotel; amount: 700; note: a,b\nname: taxi; amount: 120; note: c"},
		{"tab by extension", "c.tsv", []byte("k\tv\nx,y\t1\n"), "k | v", "k: x,y; v: 1"},
		{"tab sniffed", "d.csv", []byte("k\tv\tw\n1\t2\t3\n4\t5\t6\n"), "k | v | w", "k: 1; v: 2; w: 3\nk: 4; v: 5; w: 6"},
		{"gbk with blank lines and ragged rows", "e.csv", gbk(t, "\n部门,人数\n\n财务部,12\n人事部\n"), "部门 | 人数", "部门: 财务部; 人数: 12\n部门: 人事部"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(context.Background(), tc.file, tc.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := []Block{{Kind: Table, Header: tc.header, Text: tc.text}}
			if p.Format != "csv" || fmt.Sprintf("%#v", p.Blocks) != fmt.Sprintf("%#v", want) {
				t.Errorf("format %q blocks\n got %#v\nwant %#v", p.Format, p.Blocks, want)
			}
		})
	}
}

func gbk(t *testing.T, s string) []byte {
	return mustEncode(t, simplifiedchinese.GBK, s)
}

func TestSniffDelimiter(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  rune
		ok    bool
	}{
		{[]string{"a,b,c", "1,2,3"}, ',', true},
		{[]string{"a;b", "1;2", "3;4"}, ';', true},
		{[]string{"a|b|c", "1|2|3"}, '|', true},
		{[]string{`"x,y";z`, `"1,2";3`}, ';', true},
		{[]string{"这是一句话，没有分隔符。", "第二句。"}, ',', false},
	} {
		got, ok := sniffDelimiter(tc.lines)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("sniffDelimiter(%q) = %q,%v want %q,%v", tc.lines, got, ok, tc.want, tc.ok)
		}
	}
}
