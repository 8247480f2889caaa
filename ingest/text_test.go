package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func mustEncode(t *testing.T, enc encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTextEncodings(t *testing.T) {
	const doc = "第一条 员工出差住宿按城市等级报销。\n超出部分自理。\n\n第二条 本办法自发布之日起施行。"
	const rare = "㐀㐁 GB18030 四字节字符 € 与 𠀀。" // Extension A/B characters need GB18030's four-byte codes
	tests := []struct {
		name, enc string
		data      []byte
		want      string
	}{
		{"utf-8", "utf-8", []byte(doc), doc},
		{"utf-8 with BOM", "utf-8", append([]byte{0xef, 0xbb, 0xbf}, doc...), doc},
		{"utf-16le with BOM", "utf-16le", mustEncode(t, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), doc), doc},
		{"utf-16be with BOM", "utf-16be", mustEncode(t, unicode.UTF16(unicode.BigEndian, unicode.UseBOM), doc), doc},
		{"utf-16le without BOM", "utf-16le", mustEncode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "Policy 2026: "+doc), "Policy 2026: " + doc},
		{"gbk", "gb18030", mustEncode(t, simplifiedchinese.GBK, doc), doc},
		{"gb18030", "gb18030", mustEncode(t, simplifiedchinese.GB18030, rare), rare},
		{"gbk with ascii", "gb18030", mustEncode(t, simplifiedchinese.GBK, "Version 2.0 版本说明：支持 PDF、Word 和 Excel。"), "Version 2.0 版本说明：支持 PDF、Word 和 Excel。"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, enc, err := decodeText(tc.name, tc.data, false)
			if err != nil {
				t.Fatal(err)
			}
			if enc != tc.enc || got != tc.want {
				t.Errorf("decoded as %s: %q, want %s: %q", enc, got, tc.enc, tc.want)
			}
		})
	}
}

func TestTextLoaderParagraphs(t *testing.T) {
	data := mustEncode(t, simplifiedchinese.GBK, "第一段第一行\r\n第一段第二行\r\n\r\n\r\n  第二段\r\n")
	p, err := Parse(context.Background(), "说明.txt", data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{{Kind: Paragraph, Text: "第一段第一行\n第一段第二行"}, {Kind: Paragraph, Text: "第二段"}}
	if fmt.Sprintf("%#v", p.Blocks) != fmt.Sprintf("%#v", want) {
		t.Errorf("got %#v", p.Blocks)
	}
	if p.Format != "text" || len(p.Warnings) == 0 {
		t.Errorf("format %q warnings %q: want text with a decoded-as warning", p.Format, p.Warnings)
	}
}

func TestTextRejectsMojibake(t *testing.T) {
	// Latin-1 bytes of a mostly-accented text are not UTF-8, and as GB18030 they
	// decode to characters Chinese text never uses.
	latin1 := []byte{}
	for i := 0; i < 200; i++ {
		latin1 = append(latin1, 0xe9, 0xe8, 0xe0, 0xfc, 0xf6, 0x20)
	}
	_, _, err := decodeText("latin1.txt", latin1, false)
	if !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("got %v, want ErrUnsupportedType", err)
	}
}
