package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"zhiwen/internal/testref"
)

// sharedDocs returns ../shared/testdata/docs relative to the repository
// root (the directory holding go.mod). It fails the test when missing.
func sharedDocs(t testing.TB) string {
	t.Helper()
	return testref.Path(t, "docs")
}

func readShared(t testing.TB, rel string) []byte {
	t.Helper()
	return testref.Read(t, "docs", rel)
}

func removeSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func joinedText(p *Parsed) string {
	var b strings.Builder
	for _, bl := range p.Blocks {
		b.WriteString(bl.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// lcsLen is the length of the longest common subsequence of a and b.
func lcsLen(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func TestPDFCMRCSample(t *testing.T) {
	data := readShared(t, "cmrc_sample.pdf")
	want := removeSpace(string(readShared(t, "cmrc_sample.txt")))
	p, err := PDFLoader{}.Parse(context.Background(), "cmrc_sample.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pages != 3 || p.Format != "pdf" {
		t.Errorf("Pages=%d Format=%q, want 3 pdf", p.Pages, p.Format)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("unexpected warnings: %v", p.Warnings)
	}
	got := removeSpace(joinedText(p))
	wr := []rune(want)
	common := lcsLen(wr, []rune(got))
	recall := float64(common) / float64(len(wr))
	precision := float64(common) / float64(len([]rune(got)))
	t.Logf("cmrc_sample.pdf: %d of %d characters recovered in order (LCS recall %.4f, precision %.4f)", common, len(wr), recall, precision)
	if recall < 0.99 || precision < 0.99 {
		t.Errorf("LCS recall %.4f precision %.4f, want both >= 0.99", recall, precision)
	}

	// Every section heading is its own paragraph, in order, on the page the
	// PDF shows it (checked by eye: 1-5 on page 1, 6-8 on page 2, 9-12 on
	// page 3; section 5's text runs on into page 2).
	wantPage := map[int]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 3, 10: 3, 11: 3, 12: 3}
	next := 1
	lastPage := 0
	for _, b := range p.Blocks {
		if b.Kind != Paragraph || b.Page < 1 || b.Page > 3 {
			t.Errorf("block kind %v page %d", b.Kind, b.Page)
		}
		if b.Page < lastPage {
			t.Errorf("pages out of order: %d after %d", b.Page, lastPage)
		}
		lastPage = b.Page
		if removeSpace(b.Text) == fmt.Sprintf("第%d节", next) {
			if b.Page != wantPage[next] {
				t.Errorf("第%d节 on page %d, want %d", next, b.Page, wantPage[next])
			}
			next++
		}
	}
	if next != 13 {
		t.Errorf("found sections 1..%d as paragraphs in order, want 1..12", next-1)
	}
	// Words of Latin text keep their spaces; CJK characters get none.
	text := joinedText(p)
	for _, s := range []string{"Shane Filan", "Michael Jackson", "Lionel Richie", "战国无双系列的正统第三续作"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
}

func TestPDFChineseEncodings(t *testing.T) {
	tests := []struct {
		file  string
		want  string // whitespace removed
		exact bool   // the page holds only this text
	}{
		{"pdfjs/XiaoBiaoSong.pdf", "目录关于红军作战的原则", false},
		{"pdfjs/SimFang-variant.pdf", "全世界无产者，联合起来", true},
		{"pdfjs/issue2128r.pdf", "浅谈校长的魅力山西省闻喜县诚镇初中李新录", true},
		{"pdfjs/issue8372.pdf", "目录", true},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			p, err := PDFLoader{}.Parse(context.Background(), tc.file, readShared(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := removeSpace(joinedText(p))
			if tc.exact && got != tc.want {
				t.Errorf("text %q, want %q", got, tc.want)
			}
			if !tc.exact && !strings.Contains(got, tc.want) {
				t.Errorf("text %q lacks %q", got, tc.want)
			}
			if q := measureText(got); q.bad > 0 {
				t.Errorf("%d suspicious characters in %q", q.bad, got)
			}
			for _, b := range p.Blocks {
				if b.Page != 1 {
					t.Errorf("block on page %d, want 1", b.Page)
				}
			}
		})
	}
}

// TestPDFGBKNeedsRepair shows the WinAnsi-declared fonts really carry GBK:
// decoding their codes the declared way gives Latin-1 mojibake, which the
// garbage measure flags.
func TestPDFGBKNeedsRepair(t *testing.T) {
	for _, file := range []string{"pdfjs/XiaoBiaoSong.pdf", "pdfjs/SimFang-variant.pdf"} {
		r, err := openPDF(readShared(t, file))
		if err != nil {
			t.Fatal(err)
		}
		pages, err := collectPages(r)
		if err != nil || len(pages) != 1 {
			t.Fatalf("%s: %d pages, %v", file, len(pages), err)
		}
		doc := newPDFDoc()
		if _, err := doc.extractPage(context.Background(), pages[0]); err != nil {
			t.Fatal(err)
		}
		var naive strings.Builder
		for _, f := range doc.fonts {
			if !f.gbkCandidate {
				continue
			}
			for _, c := range []byte{0xC4, 0xBF, 0xC2, 0xBC} { // 目录 in GBK
				naive.WriteString(f.decode(string([]byte{c})))
			}
		}
		if q := measureText(naive.String()); naive.Len() == 0 || !q.garbled() {
			t.Errorf("%s: declared decoding %q is not flagged as garbage", file, naive.String())
		}
	}
}

// pdfObjects assembles a PDF from object bodies (object i+1 is objs[i];
// object 1 must be the catalog) with a correct cross-reference table.
func pdfObjects(objs []string, trailerExtra string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailerExtra, xref)
	return b.Bytes()
}

func stream(content string) string {
	return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
}

const (
	helvetica   = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
	identityCID = "<< /Type /Font /Subtype /Type0 /BaseFont /NoMap /Encoding /Identity-H /DescendantFonts [<< /Type /Font /Subtype /CIDFontType2 /BaseFont /NoMap /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>] >>"
)

// pagesPDF builds a document whose pages show the given content streams
// with font F1 = fonts[i] on page i.
func pagesPDF(fonts, contents []string) []byte {
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", ""}
	var kids []string
	for i := range contents {
		page := len(objs) + 1
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", page+1, page+2),
			fonts[i], stream(contents[i]))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(contents))
	return pdfObjects(objs, "")
}

func TestPDFSyntheticLayout(t *testing.T) {
	content := "BT /F1 12 Tf 72 720 Td (Hello world, this is) Tj 0 -14 Td (a wrapped para-) Tj 0 -14 Td (graph of text.) Tj ET " +
		"BT /F1 12 Tf 72 660 Td [(Kern)-30(ed)-600(gap)] TJ ET " +
		"BT /F1 12 Tf 72 600 Td (Second) Tj 100 0 Td (column) Tj ET"
	p, err := PDFLoader{}.Parse(context.Background(), "synthetic.pdf", pagesPDF([]string{helvetica}, []string{content}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range p.Blocks {
		got = append(got, b.Text)
	}
	want := []string{"Hello world, this is a wrapped paragraph of text.", "Kerned gap", "Second column"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("paragraphs %q, want %q", got, want)
	}
}

func TestPDFGarbagePages(t *testing.T) {
	good := "BT /F1 12 Tf 72 720 Td (Readable English text on page one.) Tj ET"
	cidGarbage := "BT /F1 12 Tf 72 720 Td <0041004200430044004500460047> Tj ET"
	latin1Garbage := "BT /F1 12 Tf 72 720 Td <C4> Tj 20 0 Td <BF> Tj 20 0 Td <A1> Tj 20 0 Td <C2> Tj 20 0 Td <BC> Tj 20 0 Td <AB> Tj ET"

	t.Run("garbled page dropped with a warning", func(t *testing.T) {
		p, err := PDFLoader{}.Parse(context.Background(), "mixed.pdf",
			pagesPDF([]string{helvetica, identityCID, helvetica}, []string{good, cidGarbage, good}))
		if err != nil {
			t.Fatal(err)
		}
		if p.Pages != 3 || len(p.Blocks) != 2 || p.Blocks[0].Page != 1 || p.Blocks[1].Page != 3 {
			t.Errorf("pages %d blocks %+v, want pages 1 and 3 kept", p.Pages, p.Blocks)
		}
		if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "page 2") {
			t.Errorf("warnings %q, want one about page 2", p.Warnings)
		}
	})
	bad := []struct {
		name  string
		data  []byte
		class error
		words string
	}{
		{"cid-garbage.pdf", pagesPDF([]string{identityCID}, []string{cidGarbage}), ErrMalformed, "undecodable"},
		{"latin1-mojibake.pdf", pagesPDF([]string{helvetica}, []string{latin1Garbage}), ErrMalformed, "undecodable"},
		{"no-text.pdf", pagesPDF([]string{helvetica}, []string{"0 0 1 rg 10 10 100 100 re f"}), ErrEmpty, "no extractable text"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PDFLoader{}.Parse(context.Background(), tc.name, tc.data)
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error %v, want %v naming the file and saying %q", err, tc.class, tc.words)
			}
		})
	}
}

func TestPDFBadInput(t *testing.T) {
	cmrc := readShared(t, "cmrc_sample.pdf")
	encrypted := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [] /Count 0 >>",
		"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -4 /O <" + strings.Repeat("41", 32) + "> /U <" + strings.Repeat("42", 32) + "> >>",
	}, "/Encrypt 3 0 R /ID [<"+strings.Repeat("01", 16)+"> <"+strings.Repeat("01", 16)+">]")
	cyclic := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [2 0 R 2 0 R] /Count 5 >>",
	}, "")
	garbage := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0x8f, 0x21, 0xfe, 0x00, 'x'}, 2000)...)
	tests := []struct {
		name  string
		data  []byte
		class error
	}{
		{"truncated.pdf", cmrc[:len(cmrc)/2], ErrMalformed},
		{"garbage.pdf", garbage, ErrMalformed},
		{"encrypted.pdf", encrypted, ErrEncrypted},
		{"cyclic-pages.pdf", cyclic, ErrEmpty},
		{"header-only.pdf", []byte("%PDF-1.4\n%%EOF\n"), ErrMalformed},
	}
	for _, tc := range tests {
		for _, isolated := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/isolated=%v", tc.name, isolated), func(t *testing.T) {
				SetPDFIsolation(isolated)
				defer SetPDFIsolation(true)
				start := time.Now()
				p, err := PDFLoader{}.Parse(context.Background(), tc.name, tc.data)
				if err == nil {
					t.Fatalf("parsed %d blocks, want an error", len(p.Blocks))
				}
				if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.name) {
					t.Errorf("error %q, want class %v naming the file", err, tc.class)
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Name != tc.name {
					t.Errorf("error %T is not a *ParseError for %s", err, tc.name)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("took %s", d)
				}
			})
		}
	}
}

func TestPDFSniffAndRegistration(t *testing.T) {
	l := PDFLoader{}
	if !l.Sniff([]byte("%PDF-1.7\n")) || !l.Sniff(append(bytes.Repeat([]byte(" "), 500), "%PDF-1.4"...)) {
		t.Error("Sniff rejects a PDF header")
	}
	if l.Sniff([]byte("PK\x03\x04")) || l.Sniff(append(bytes.Repeat([]byte(" "), 1100), "%PDF-1.4"...)) {
		t.Error("Sniff accepts a non-PDF")
	}
	if got, ok := loaderFor("pdf"); !ok || got.Format() != "pdf" {
		t.Error("pdf loader not registered")
	}
}

func TestPDFInProcess(t *testing.T) {
	SetPDFIsolation(false)
	defer SetPDFIsolation(true)
	p, err := PDFLoader{}.Parse(context.Background(), "issue8372.pdf", readShared(t, "pdfjs/issue8372.pdf"))
	if err != nil || removeSpace(joinedText(p)) != "目录" {
		t.Fatalf("in-process parse: %v", err)
	}
}

// BenchmarkPDFCMRC measures extraction of the 3-page sample, in a worker
// process (the default) and in-process.
func BenchmarkPDFCMRC(b *testing.B) {
	data := readShared(b, "cmrc_sample.pdf")
	for _, isolated := range []bool{true, false} {
		b.Run(fmt.Sprintf("isolated=%v", isolated), func(b *testing.B) {
			SetPDFIsolation(isolated)
			defer SetPDFIsolation(true)
			pages := 0
			start := time.Now()
			for b.Loop() {
				p, err := PDFLoader{}.Parse(context.Background(), "cmrc_sample.pdf", data)
				if err != nil {
					b.Fatal(err)
				}
				pages += p.Pages
			}
			b.ReportMetric(float64(pages)/time.Since(start).Seconds(), "pages/s")
		})
	}
}

func TestParseCMap(t *testing.T) {
	src := `/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test def
2 begincodespacerange <00> <7F> <8140> <FEFE> endcodespacerange
3 beginbfchar <01> <0041> <8141> <4E2D> <02> <00660069> endbfchar
2 beginbfrange <10> <12> <0061> <8150> <8151> [<6587> <5B57>] endbfrange
1 begincidrange <8160> <8162> 500 endcidrange
endcmap CMapName currentdict /CMap defineresource pop end end`
	m, err := parseCMap(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	uni := []struct{ code, want string }{
		{"\x01", "A"}, {"\x81\x41", "中"}, {"\x02", "fi"},
		{"\x10", "a"}, {"\x12", "c"}, {"\x81\x50", "文"}, {"\x81\x51", "字"},
	}
	for _, u := range uni {
		if got := m.uni[u.code]; got != u.want {
			t.Errorf("code % x -> %q, want %q", u.code, got, u.want)
		}
	}
	if _, ok := m.uni["\x13"]; ok {
		t.Error("bfrange ran past its end")
	}
	lens := []struct {
		in   string
		want int
	}{{"\x41\x81", 1}, {"\x81\x40", 2}, {"\xff\x00", 0}}
	for _, l := range lens {
		if got := m.codeLen([]byte(l.in)); got != l.want {
			t.Errorf("codeLen(% x) = %d, want %d", l.in, got, l.want)
		}
	}
	if cid, ok := m.cidFor("\x81\x62"); !ok || cid != 502 {
		t.Errorf("cidFor = %d %v, want 502", cid, ok)
	}
}

func TestPDFFormXObjectText(t *testing.T) {
	form := "BT /F1 12 Tf 0 0 Td (inside the form) Tj ET"
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> /XObject << /X1 6 0 R >> >> /Contents 5 0 R >>",
		helvetica,
		stream("BT /F1 12 Tf 72 720 Td (Above the form) Tj ET q 1 0 0 1 72 600 cm /X1 Do Q"),
		fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 300 50] /Matrix [1 0 0 1 0 0] /Length %d >>\nstream\n%s\nendstream", len(form), form),
	}, "")
	p, err := PDFLoader{}.Parse(context.Background(), "form.pdf", data)
	if err != nil {
		t.Fatal(err)
	}
	if got := joinedText(p); got != "Above the form\ninside the form\n" {
		t.Errorf("text %q", got)
	}
}

func TestPDFThroughParse(t *testing.T) {
	p, err := Parse(context.Background(), "sample.bin", readShared(t, "cmrc_sample.pdf"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != "pdf" || p.Pages != 3 || len(p.Blocks) < 24 || p.Blocks[len(p.Blocks)-1].Page != 3 {
		t.Errorf("format %q pages %d blocks %d", p.Format, p.Pages, len(p.Blocks))
	}
	_, err = Parse(context.Background(), "half.pdf", readShared(t, "cmrc_sample.pdf")[:1000], Limits{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "half.pdf") {
		t.Errorf("truncated through Parse: %v", err)
	}
}

// TestPDFPredefinedCMaps covers Type0 fonts whose text comes only from a
// predefined CMap's byte encoding, and a ToUnicode map overriding WinAnsi.
func TestPDFPredefinedCMaps(t *testing.T) {
	type0 := func(enc string) string {
		return "<< /Type /Font /Subtype /Type0 /BaseFont /F /Encoding /" + enc +
			" /DescendantFonts [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /F /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> >>] >>"
	}
	tests := []struct {
		enc, hex, want string
	}{
		{"GBK-EUC-H", "D6D0CEC4", "中文"},
		{"GBK2K-H", "8139EE39D6D0", "㐀中"}, // a 4-byte GB18030 code, then a 2-byte one
		{"UniGB-UCS2-H", "4E2D6587", "中文"},
		{"UniGB-UTF16-H", "D840DC004E2D", "\U00020000中"},
		{"B5pc-H", "A4A4A4E5", "中文"},
		{"90ms-RKSJ-H", "93FA967B", "日本"},
		{"KSCms-UHC-H", "C7D1B1B9", "한국"},
	}
	for _, tc := range tests {
		t.Run(tc.enc, func(t *testing.T) {
			content := "BT /F1 12 Tf 72 720 Td <" + tc.hex + "> Tj ET"
			p, err := PDFLoader{}.Parse(context.Background(), tc.enc+".pdf", pagesPDF([]string{type0(tc.enc)}, []string{content}))
			if err != nil {
				t.Fatal(err)
			}
			if got := removeSpace(joinedText(p)); got != tc.want {
				t.Errorf("text %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("ToUnicode over WinAnsi", func(t *testing.T) {
		cmap := "/CIDInit /ProcSet findresource begin 1 begincodespacerange <00> <FF> endcodespacerange 2 beginbfchar <41> <4E2D> <42> <6587> endbfchar end"
		data := pdfObjects([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
			"<< /Type /Font /Subtype /TrueType /BaseFont /X /Encoding /WinAnsiEncoding /FirstChar 65 /LastChar 66 /Widths [1000 1000] /ToUnicode 6 0 R >>",
			stream("BT /F1 12 Tf 72 720 Td (AB) Tj ET"),
			stream(cmap),
		}, "")
		p, err := PDFLoader{}.Parse(context.Background(), "tounicode.pdf", data)
		if err != nil {
			t.Fatal(err)
		}
		if got := joinedText(p); got != "中文\n" {
			t.Errorf("text %q, want 中文", got)
		}
	})
}

// TestPDFColumns: a two-column page is read column by column below a title
// that spans both, while a two-column table stays row by row.
func TestPDFColumns(t *testing.T) {
	var c strings.Builder
	c.WriteString("BT /F1 12 Tf 50 760 Td (A title that spans both of the columns on this page) Tj ET\n")
	for i := range 8 {
		y := 730 - 14*i
		// 40 characters of 6 pt each: left column 50..290, right column 310..550.
		fmt.Fprintf(&c, "BT /F1 12 Tf 50 %d Td (left%02d xxxxx xxxxx xxxxx xxxxx xxxxx xxx) Tj ET\n", y, i)
		fmt.Fprintf(&c, "BT /F1 12 Tf 310 %d Td (right%02d yyyyy yyyyy yyyyy yyyyy yyyyy yy) Tj ET\n", y, i)
	}
	p, err := PDFLoader{}.Parse(context.Background(), "columns.pdf", pagesPDF([]string{helvetica}, []string{c.String()}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) != 3 {
		t.Fatalf("got %d paragraphs, want title + 2 columns: %q", len(p.Blocks), joinedText(p))
	}
	if !strings.HasPrefix(p.Blocks[0].Text, "A title") ||
		!strings.HasPrefix(p.Blocks[1].Text, "left00") || !strings.Contains(p.Blocks[1].Text, "left07") || strings.Contains(p.Blocks[1].Text, "right") ||
		!strings.HasPrefix(p.Blocks[2].Text, "right00") || !strings.Contains(p.Blocks[2].Text, "right07") {
		t.Errorf("reading order wrong: %q", joinedText(p))
	}

	var tbl strings.Builder
	for i := range 12 {
		fmt.Fprintf(&tbl, "BT /F1 12 Tf 50 %d Td (%s) Tj ET BT /F1 12 Tf 300 %d Td (value %d) Tj ET\n", 700-14*i, strings.Repeat("k", 1+i%5), 700-14*i, i)
	}
	p, err = PDFLoader{}.Parse(context.Background(), "table.pdf", pagesPDF([]string{helvetica}, []string{tbl.String()}))
	if err != nil {
		t.Fatal(err)
	}
	text := joinedText(p)
	for i := range 12 {
		if row := strings.Repeat("k", 1+i%5) + fmt.Sprintf(" value %d", i); !strings.Contains(text, row) {
			t.Errorf("table row %q not kept together in %q", row, text)
		}
	}
}
