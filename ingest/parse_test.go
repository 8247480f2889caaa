package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestParsePolicyDocuments(t *testing.T) {
	for _, tc := range []struct {
		file, format string
	}{
		{"policy.docx", "docx"},
		{"policy.html", "html"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data := readSharedTestdata(t, "docs", tc.file)
			p, err := Parse(context.Background(), tc.file, data, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != tc.format {
				t.Errorf("format %q, want %q", p.Format, tc.format)
			}
			var headings []string
			var table *Block
			for i, b := range p.Blocks {
				switch b.Kind {
				case Heading:
					headings = append(headings, b.Text)
				case Table:
					table = &p.Blocks[i]
				}
			}
			wantHeadings := []string{"员工差旅报销管理办法", "第一章 总则", "第二章 住宿标准", "第三章 交通费用", "第四章 报销流程", "第五章 附则"}
			if fmt.Sprint(headings) != fmt.Sprint(wantHeadings) {
				t.Errorf("headings %q, want %q", headings, wantHeadings)
			}
			for _, article := range []string{"第一条", "第二条", "第三条", "第四条", "第五条", "第六条", "第七条", "第八条"} {
				if !strings.Contains(p.Text(), article) {
					t.Errorf("text lacks %s", article)
				}
			}
			if table == nil {
				t.Fatal("no table block")
			}
			if want := []string{"员工差旅报销管理办法", "第二章 住宿标准"}; fmt.Sprint(table.Headings) != fmt.Sprint(want) {
				t.Errorf("table headings %q, want %q", table.Headings, want)
			}
			if !strings.Contains(table.Header, "部门经理（元/晚）") || !strings.HasPrefix(table.Header, "城市等级") {
				t.Errorf("table header %q", table.Header)
			}
			rows := strings.Split(table.Text, "\n")
			if len(rows) != 3 {
				t.Fatalf("table rows %q, want 3", rows)
			}
			if want := "城市等级: 一线城市（北京、上海、广州、深圳）; 普通员工（元/晚）: 550; 部门经理（元/晚）: 700; 总监及以上（元/晚）: 900"; rows[0] != want {
				t.Errorf("first row %q, want %q", rows[0], want)
			}
			// Whole pipeline shape: the chunk carrying the table answers the hotel question.
			chunks := Split(p, DefaultSplitOptions())
			found := false
			for _, c := range chunks {
				for _, ln := range strings.Split(c.Text, "\n") {
					if strings.Contains(ln, "一线城市") && strings.Contains(ln, "部门经理（元/晚）: 700") {
						found = true
						if !contains(c.Headings, "第二章 住宿标准") {
							t.Errorf("table chunk headings %q lack 第二章 住宿标准", c.Headings)
						}
					}
				}
			}
			if !found {
				t.Error("no chunk says 一线城市 部门经理 700")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cfbStub builds a minimal Compound File Binary with the given stream names,
// as a password-protected DOCX (EncryptionInfo + EncryptedPackage) or a legacy .doc.
func cfbStub(streams ...string) []byte {
	const sec = 512
	out := make([]byte, 512+2*sec)
	copy(out, oleMagic)
	binary.LittleEndian.PutUint16(out[0x18:], 0x3e) // minor version
	binary.LittleEndian.PutUint16(out[0x1a:], 3)    // major version
	binary.LittleEndian.PutUint16(out[0x1c:], 0xfffe)
	binary.LittleEndian.PutUint16(out[0x1e:], 9) // 512-byte sectors
	binary.LittleEndian.PutUint16(out[0x20:], 6)
	binary.LittleEndian.PutUint32(out[0x2c:], 1)          // one FAT sector
	binary.LittleEndian.PutUint32(out[0x30:], 1)          // directory in sector 1
	binary.LittleEndian.PutUint32(out[0x38:], 4096)       // mini stream cutoff
	binary.LittleEndian.PutUint32(out[0x3c:], 0xfffffffe) // no mini FAT
	binary.LittleEndian.PutUint32(out[0x44:], 0xfffffffe) // no DIFAT sectors
	for i := 0; i < 109; i++ {
		binary.LittleEndian.PutUint32(out[0x4c+4*i:], 0xffffffff)
	}
	binary.LittleEndian.PutUint32(out[0x4c:], 0) // FAT is sector 0
	fat := out[512 : 512+sec]
	for i := 0; i < sec/4; i++ {
		binary.LittleEndian.PutUint32(fat[4*i:], 0xffffffff)
	}
	binary.LittleEndian.PutUint32(fat[0:], 0xfffffffd) // sector 0: FAT
	binary.LittleEndian.PutUint32(fat[4:], 0xfffffffe) // sector 1: end of directory chain
	dir := out[512+sec:]
	names := append([]string{"Root Entry"}, streams...)
	for i, n := range names {
		e := dir[128*i : 128*(i+1)]
		u := utf16.Encode([]rune(n))
		for j, c := range u {
			binary.LittleEndian.PutUint16(e[2*j:], c)
		}
		binary.LittleEndian.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66] = 2
		if i == 0 {
			e[66] = 5
		}
		binary.LittleEndian.PutUint32(e[0x74:], 0xfffffffe)
	}
	return out
}

// rawZip builds a zip with one entry whose header declares declared bytes
// uncompressed while its deflate stream inflates to actual bytes of 'a'.
func rawZip(t *testing.T, entry string, declared uint64, actual int) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.DefaultCompression)
	chunk := bytes.Repeat([]byte("a"), 1<<16)
	for left := actual; left > 0; left -= len(chunk) {
		fw.Write(chunk[:min(left, len(chunk))])
	}
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               entry,
		Method:             zip.Deflate,
		CompressedSize64:   uint64(comp.Len()),
		UncompressedSize64: declared,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

func TestParseBadInput(t *testing.T) {
	policy := readSharedTestdata(t, "docs", "policy.docx")
	rng := rand.New(rand.NewSource(7))
	garbage := make([]byte, 8192)
	rng.Read(garbage)
	highGarbage := make([]byte, 8192) // no control bytes: only the GB18030 plausibility check can reject it
	for i := range highGarbage {
		highGarbage[i] = byte(0x80 + rng.Intn(0x80))
	}
	// A document of about 2 MiB of varied Chinese text: compresses little, so
	// only the expansion budget stops it.
	var big strings.Builder
	for big.Len() < 2<<20 {
		big.WriteString("<w:p><w:r><w:t>")
		for i := 0; i < 200; i++ {
			big.WriteRune(rune(0x4e00 + rng.Intn(0x5000)))
		}
		big.WriteString("</w:t></w:r></w:p>")
	}
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)

	tests := []struct {
		name string
		file string
		data []byte
		lim  Limits
		want error
	}{
		{"truncated docx", "cut.docx", policy[:len(policy)/2], Limits{}, ErrMalformed},
		{"zip bomb by ratio", "bomb.docx", rawZip(t, "word/document.xml", 4<<20, 4<<20), Limits{}, ErrTooLarge},
		{"zip bomb by declared size", "huge.docx", rawZip(t, "word/document.xml", 1<<40, 1000), Limits{}, ErrTooLarge},
		{"zip bomb with lying header", "liar.docx", rawZip(t, "word/document.xml", 1000, 4<<20), Limits{}, ErrTooLarge},
		{"zip over expansion budget", "big.docx", testDocx(t, big.String(), ""), Limits{MaxExpandedBytes: 1 << 20}, ErrTooLarge},
		{"docx with invalid XML", "broken.docx", buildTestZip(t, zipEntry{"word/document.xml", `<w:document ` + testWordNS + `><w:body><w:p><w:r><w:t>半截</w:r></w:p>`}), Limits{}, ErrMalformed},
		{"empty file", "empty.txt", nil, Limits{}, ErrEmpty},
		{"blank file", "blank.md", []byte(" \n\t\r\n "), Limits{}, ErrEmpty},
		{"docx without text", "blank.docx", testDocx(t, `<w:p/><w:p><w:r><w:t>  </w:t></w:r></w:p>`, ""), Limits{}, ErrEmpty},
		{"png image", "photo.png", png, Limits{}, ErrUnsupportedType},
		{"png named txt", "photo.txt", png, Limits{}, ErrUnsupportedType},
		{"over-size file", "large.txt", []byte(strings.Repeat("制度。", 1000)), Limits{MaxFileBytes: 1024}, ErrTooLarge},
		{"binary garbage named txt", "garbage.txt", garbage, Limits{}, ErrUnsupportedType},
		{"binary garbage without extension", "garbage", garbage, Limits{}, ErrUnsupportedType},
		{"high-byte garbage named txt", "high.txt", highGarbage, Limits{}, ErrUnsupportedType},
		{"high-byte garbage named csv", "high.csv", highGarbage, Limits{}, ErrUnsupportedType},
		{"encrypted OLE docx", "secret.docx", cfbStub("EncryptionInfo", "EncryptedPackage"), Limits{}, ErrEncrypted},
		{"legacy doc", "old.doc", cfbStub("WordDocument", "1Table"), Limits{}, ErrUnsupportedType},
		{"text named docx", "fake.docx", []byte("只是一段文字"), Limits{}, ErrMalformed},
		{"zip that is not office", "archive.docx", buildTestZip(t, zipEntry{"a.txt", "hello"}), Limits{}, ErrUnsupportedType},
		{"elf executable", "tool.txt", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...), Limits{}, ErrUnsupportedType},
		{"xlsx with invalid workbook", "bad.xlsx", buildTestZip(t, zipEntry{"xl/workbook.xml", "<workbook><sheets><sheet"}), Limits{}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p *Parsed
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				p, err = Parse(context.Background(), tc.file, tc.data, tc.lim)
			}()
			if err == nil {
				t.Fatalf("no error; parsed %d blocks: %.80q", len(p.Blocks), p.Text())
			}
			t.Logf("%v", err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q is not %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file %q", err, tc.file)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Name != tc.file {
				t.Errorf("error %q is not a *ParseError for %q", err, tc.file)
			}
		})
	}
}

// panicLoader stands in for a buggy loader.
type panicLoader struct{}

func (panicLoader) Format() string    { return "paniccheck" }
func (panicLoader) Sniff([]byte) bool { return false }
func (panicLoader) Parse(context.Context, string, []byte) (*Parsed, error) {
	var m map[string]int
	m["boom"]++ // a nil-map write: a runtime panic, as a buggy parser would raise
	return nil, nil
}

func TestParseRecoversLoaderPanic(t *testing.T) {
	RegisterLoader(panicLoader{}, ".paniccheck")
	_, err := Parse(context.Background(), "bug.paniccheck", []byte("plain words"), Limits{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "bug.paniccheck") {
		t.Fatalf("got %v, want ErrMalformed naming the file", err)
	}
}

func TestParseCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Parse(ctx, "a.txt", []byte("文本"), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestDetectFormat(t *testing.T) {
	docx := testDocx(t, `<w:p><w:r><w:t>x</w:t></w:r></w:p>`, "")
	xlsx := buildTestZip(t, zipEntry{"xl/workbook.xml", "<workbook/>"})
	tests := []struct {
		name string
		data string
		want string
	}{
		{"a.pdf", "%PDF-1.7\n...", "pdf"},
		{"renamed.bin", "%PDF-1.4\n", "pdf"},
		{"a.docx", string(docx), "docx"},
		{"noext", string(docx), "docx"},
		{"sheet.xlsx", string(xlsx), "xlsx"},
		{"wrong.docx", string(xlsx), "xlsx"}, // content wins over the extension
		{"page.html", "<p>hi</p>", "html"},
		{"page.txt", "<!DOCTYPE html><html><body>hi</body></html>", "html"},
		{"page", "<html><body><p>段落</p></body></html>", "html"},
		{"notes.md", "# 标题\n正文", "markdown"},
		{"notes", "# 标题\n\n```go\nx\n```\n", "markdown"},
		{"data.csv", "a,b\n1,2\n", "csv"},
		{"data", "名称,数量,单价\n苹果,3,5.5\n梨,2,4\n", "csv"},
		{"plain", "第一条 规定。\n第二条 说明。", "text"},
		{"prose", "Hello, world.\nThis line, like the first, has a comma.\nSo does this one, see.\n", "text"},
		{"plain.txt", "# not markdown because the extension says text", "text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detectFormat(tc.name, []byte(tc.data), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCleanParsed(t *testing.T) {
	p := &Parsed{Title: " 标题\u200b ", Blocks: []Block{
		{Kind: Heading, Level: 1, Text: "\ufeff第一章\n总则"},
		{Kind: Paragraph, Text: "第一行  \r\n第二\u200b行\x07\r\n\r\n\r\n\r\n第三行\u00ad\t "},
		{Kind: Paragraph, Text: " \u200b \n "},
		{Kind: Heading, Level: 2, Text: "第一节"},
		{Kind: Code, Text: "  indented()\r\n\n\n\n  more()"},
		{Kind: Heading, Level: 1, Text: "第二章"},
		{Kind: Paragraph, Text: "尾"},
	}}
	cleanParsed(p)
	want := []Block{
		{Kind: Heading, Level: 1, Text: "第一章 总则"},
		{Kind: Paragraph, Text: "第一行\n第二行\n\n第三行", Headings: []string{"第一章 总则"}},
		{Kind: Heading, Level: 2, Text: "第一节", Headings: []string{"第一章 总则"}},
		{Kind: Code, Text: "  indented()\n\n  more()", Headings: []string{"第一章 总则", "第一节"}},
		{Kind: Heading, Level: 1, Text: "第二章"},
		{Kind: Paragraph, Text: "尾", Headings: []string{"第二章"}},
	}
	if p.Title != "标题" {
		t.Errorf("title %q", p.Title)
	}
	if fmt.Sprintf("%#v", p.Blocks) != fmt.Sprintf("%#v", want) {
		t.Errorf("got  %#v\nwant %#v", p.Blocks, want)
	}
}
