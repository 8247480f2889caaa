package ingest

import (
	"context"
	"testing"
)

// FuzzLoaders feeds arbitrary bytes to every non-PDF loader directly (no
// panic recovery in between) and splits what they return. go test runs the
// seeds; go test -fuzz=FuzzLoaders explores further.
func FuzzLoaders(f *testing.F) {
	f.Add([]byte("# 标题\n\n正文。| a | b |\n|---|---|\n| 1 | 2 |\n```\ncode\n"))
	f.Add([]byte("<html><title>t</title><body><h1>x</h1><table><tr><td rowspan=3>a<td colspan=2>b</table></body>"))
	f.Add([]byte("a,b,\"c\nd\"\n1,2,3\n"))
	f.Add(testDocx(f, `<w:p><w:pPr><w:outlineLvl w:val="1"/></w:pPr><w:r><w:t>标题</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="3"/></w:tcPr><w:p><w:r><w:t>x</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`, ""))
	f.Add(buildTestZip(f, zipEntry{"xl/workbook.xml", `<workbook><sheets><sheet name="s" r:id="rId1" xmlns:r="r"/></sheets></workbook>`},
		zipEntry{"xl/worksheets/sheet1.xml", `<worksheet><sheetData><row><c r="ZZZ1" t="s"><v>9</v></c></row></sheetData></worksheet>`}))
	f.Add(cfbStub("EncryptionInfo", "EncryptedPackage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.WithValue(context.Background(), limitsKey{}, Limits{MaxFileBytes: 1 << 20, MaxExpandedBytes: 4 << 20, MaxCompressionRatio: 100})
		_, _ = detectFormat("fuzz", data, DefaultLimits())
		for _, l := range []Loader{textLoader{}, markdownLoader{}, csvLoader{}, htmlLoader{}, docxLoader{}, xlsxLoader{}} {
			l.Sniff(data[:min(len(data), 4096)])
			p, err := l.Parse(ctx, "fuzz", data)
			if err != nil || p == nil {
				continue
			}
			cleanParsed(p)
			n := len([]rune(p.Text()))
			for _, c := range Split(p, SplitOptions{ChunkSize: 20, Overlap: 5}) {
				if c.Start < 0 || c.End > n || c.Start >= c.End {
					t.Fatalf("%s: bad chunk span [%d,%d) of %d", l.Format(), c.Start, c.End, n)
				}
			}
		}
	})
}
