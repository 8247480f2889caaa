package ingest

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"unicode"
)

func TestSentenceSpans(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"第一句。第二句！第三句？第四句；第五句", []string{"第一句。", "第二句！", "第三句？", "第四句；", "第五句"}},
		{"他说：“好的。”然后走了。", []string{"他说：“好的。”", "然后走了。"}},
		{"（见附件。）下一句……再下一句", []string{"（见附件。）", "下一句……", "再下一句"}},
		{"第一行\n第二行\r\n", []string{"第一行", "第二行"}},
		{"Pi is 3.14 exactly. Next sentence here.", []string{"Pi is 3.14 exactly.", "Next sentence here."}},
		{"Use tools, e.g. Go and Rust. They help.", []string{"Use tools, e.g. Go and Rust.", "They help."}},
		{"Mr. Smith met Dr. Wang. 然后开会。", []string{"Mr. Smith met Dr. Wang.", "然后开会。"}},
		{"version 1.2.3 is out. it has fixes", []string{"version 1.2.3 is out. it has fixes"}},
		{"J. R. R. Tolkien wrote books. Really?! Yes; sure.", []string{"J. R. R. Tolkien wrote books.", "Really?!", "Yes;", "sure."}},
		{"See http://a.cn/x?q=1;p=2 now. 完成.下一步", []string{"See http://a.cn/x?q=1;p=2 now.", "完成.", "下一步"}},
		{"1. 第一步。2. 第二步。", []string{"1. 第一步。", "2. 第二步。"}},
		{`He said "Stop." Then left.`, []string{`He said "Stop."`, "Then left."}},
		{"   ", nil},
	}
	for _, tc := range tests {
		rs := []rune(tc.in)
		var got []string
		for _, sp := range sentenceSpans(rs, 0, len(rs)) {
			got = append(got, string(rs[sp[0]:sp[1]]))
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("sentences(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestUnitCount(t *testing.T) {
	tests := []struct {
		in     string
		tokens int
	}{
		{"", 0},
		{"员工出差", 4},
		{"住宿，700元。", 5}, // 住 宿 ， 700 元 。 -> 住,宿,，,700,元,。 = 6? see below
		{"hello world", 2},
		{"3.14 and don't", 3},
		{"GPU显存 80GB", 4},            // GPU 显 存 80GB
		{"a-b_c", 1},                 // joined by - and _
		{"x = y + 1", 5},             // x = y + 1
		{strings.Repeat("a", 45), 3}, // one long run: a token per 20 runes
		{"  \n\t ", 0},
	}
	// 住宿，700元。: 住 宿 ， 700 元 。 is six tokens.
	tests[2].tokens = 6
	for _, tc := range tests {
		if got := UnitTokens.Count(tc.in); got != tc.tokens {
			t.Errorf("UnitTokens.Count(%q) = %d, want %d", tc.in, got, tc.tokens)
		}
		if got, want := UnitRunes.Count(tc.in), len([]rune(tc.in)); got != want {
			t.Errorf("UnitRunes.Count(%q) = %d, want %d", tc.in, got, want)
		}
	}
}

func para(text string) Block { return Block{Kind: Paragraph, Text: text} }
func head(level int, text string) Block {
	return Block{Kind: Heading, Level: level, Text: text}
}

func chunkTexts(cs []Chunk) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Text)
	}
	return out
}

func TestSplitBehaviour(t *testing.T) {
	table := Block{Kind: Table, Header: "城市 | 限额", Text: "城市: 一线; 限额: 700\n城市: 二线; 限额: 500\n城市: 其他; 限额: 300"}
	tests := []struct {
		name   string
		blocks []Block
		opt    SplitOptions
		want   []string
		heads  [][]string
	}{
		{
			name:   "headings start chunks and open them",
			blocks: []Block{head(1, "总则"), head(2, "第一节"), para("甲。乙。"), head(2, "第二节"), para("丙。")},
			opt:    SplitOptions{ChunkSize: 100},
			want:   []string{"总则\n\n第一节\n\n甲。乙。", "第二节\n\n丙。"},
			heads:  [][]string{{"总则", "第一节"}, {"总则", "第二节"}},
		},
		{
			name:   "sentences packed with whole-sentence overlap",
			blocks: []Block{para("一二三。四五六。七八九。十一二。")},
			opt:    SplitOptions{ChunkSize: 8, Overlap: 4},
			want:   []string{"一二三。四五六。", "四五六。七八九。", "七八九。十一二。"},
		},
		{
			name:   "overlap 0 repeats nothing",
			blocks: []Block{para("一二三。四五六。七八九。")},
			opt:    SplitOptions{ChunkSize: 8, Overlap: 0},
			want:   []string{"一二三。四五六。", "七八九。"},
		},
		{
			name:   "over-long sentence cut at a comma",
			blocks: []Block{para("甲乙丙丁，戊己庚辛壬癸子丑。")},
			opt:    SplitOptions{ChunkSize: 8, Overlap: 3},
			want:   []string{"甲乙丙丁，", "戊己庚辛壬癸子丑", "。"},
		},
		{
			name:   "small table stays whole with its lead-in",
			blocks: []Block{para("标准如下。"), table},
			opt:    SplitOptions{ChunkSize: 200},
			want:   []string{"标准如下。\n\n" + table.Text},
		},
		{
			name:   "big table split by rows under its header",
			blocks: []Block{head(1, "住宿"), table},
			opt:    SplitOptions{ChunkSize: 30, Unit: UnitRunes},
			want:   []string{"住宿\n\n城市 | 限额\n城市: 一线; 限额: 700", "城市 | 限额\n城市: 二线; 限额: 500", "城市 | 限额\n城市: 其他; 限额: 300"},
			heads:  [][]string{{"住宿"}, {"住宿"}, {"住宿"}},
		},
		{
			name:   "document ending in a heading",
			blocks: []Block{para("正文。"), head(1, "附录")},
			opt:    SplitOptions{ChunkSize: 50},
			want:   []string{"正文。", "附录"},
			heads:  [][]string{nil, {"附录"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Parsed{Blocks: tc.blocks}
			got := Split(p, tc.opt)
			if fmt.Sprintf("%q", chunkTexts(got)) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("chunks\n got %q\nwant %q", chunkTexts(got), tc.want)
			}
			if tc.heads != nil {
				for i, c := range got {
					if i < len(tc.heads) && fmt.Sprint(c.Headings) != fmt.Sprint(tc.heads[i]) {
						t.Errorf("chunk %d headings %q, want %q", i, c.Headings, tc.heads[i])
					}
				}
			}
			checkSplitInvariants(t, p, tc.opt, got)
		})
	}
}

func TestSplitPagesAndSeq(t *testing.T) {
	p := &Parsed{Blocks: []Block{{Kind: Paragraph, Text: "第一页的话。", Page: 1}, {Kind: Paragraph, Text: "第二页的话。", Page: 2}}}
	got := Split(p, SplitOptions{ChunkSize: 7})
	if len(got) != 2 || got[0].Page != 1 || got[1].Page != 2 || got[0].Seq != 0 || got[1].Seq != 1 || got[0].DocID != "" {
		t.Fatalf("got %+v", got)
	}
}

// checkSplitInvariants checks the splitter's promises against the parsed text.
func checkSplitInvariants(t *testing.T, p *Parsed, opt SplitOptions, chunks []Chunk) {
	t.Helper()
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 500
	}
	overlap := min(max(opt.Overlap, 0), opt.ChunkSize/2)
	text := []rune(p.Text())
	// Block spans and which tables were too big to keep whole.
	type span struct{ start, end int }
	blockSpans := make([]span, len(p.Blocks))
	off := 0
	for i, b := range p.Blocks {
		n := len([]rune(b.Text))
		blockSpans[i] = span{off, off + n}
		off += n + 2
	}
	tooBig := make([]bool, len(p.Blocks))
	for i, b := range p.Blocks {
		tooBig[i] = b.Kind == Table && opt.Unit.Count(b.Text) > opt.ChunkSize
	}
	bigTable := func(c Chunk) (Block, bool) {
		for i, b := range p.Blocks {
			s := blockSpans[i]
			if tooBig[i] && c.Start < s.end && c.End > s.start {
				return b, true
			}
		}
		return Block{}, false
	}
	covered := make([]bool, len(text))
	for i, c := range chunks {
		if c.Seq != i {
			t.Errorf("chunk %d has Seq %d", i, c.Seq)
		}
		if c.Start < 0 || c.End > len(text) || c.Start >= c.End {
			t.Fatalf("chunk %d has bad span [%d,%d) of %d", i, c.Start, c.End, len(text))
		}
		if n := opt.Unit.Count(c.Text); n > opt.ChunkSize {
			t.Errorf("chunk %d is %d over budget %d: %q", i, n, opt.ChunkSize, c.Text)
		}
		src := string(text[c.Start:c.End])
		if tb, ok := bigTable(c); ok {
			if tb.Header != "" && !strings.Contains(c.Text, tb.Header+"\n") && opt.Unit.Count(tb.Header) <= opt.ChunkSize/2 {
				t.Errorf("table chunk %d lacks the header line: %q", i, c.Text)
			}
			if strings.Replace(c.Text, tb.Header+"\n", "", 1) != src && c.Text != src {
				t.Errorf("table chunk %d text %q does not match its rows %q", i, c.Text, src)
			}
		} else if c.Text != src {
			t.Errorf("chunk %d text %q != source span %q", i, c.Text, src)
		}
		for k := c.Start; k < c.End; k++ {
			covered[k] = true
		}
		if i > 0 {
			prev := chunks[i-1]
			if c.Start <= prev.Start || c.End <= prev.End {
				t.Errorf("chunk %d [%d,%d) out of order after [%d,%d)", i, c.Start, c.End, prev.Start, prev.End)
			}
			if c.Start < prev.End {
				if n := opt.Unit.Count(string(text[c.Start:prev.End])); n > overlap {
					t.Errorf("chunk %d overlaps the previous by %d > %d", i, n, overlap)
				}
				if r := text[c.Start-1]; !unicode.IsSpace(r) && !isCJKTerminator(r) && !isCloser(r) && !strings.ContainsRune(".!?;", r) {
					t.Errorf("chunk %d overlap starts mid-sentence after %q", i, r)
				}
			}
		}
		// A heading may only open a chunk, never follow content inside it.
		seenContent := false
		for bi, b := range p.Blocks {
			s := blockSpans[bi]
			if s.end <= c.Start || s.start >= c.End {
				continue
			}
			if b.Kind == Heading && seenContent && s.start >= c.Start {
				t.Errorf("chunk %d crosses into heading %q", i, b.Text)
			}
			if b.Kind != Heading {
				seenContent = true
			}
		}
	}
	for k, r := range text {
		if !covered[k] && !unicode.IsSpace(r) {
			t.Fatalf("rune %d %q of the text is in no chunk", k, r)
		}
	}
	// Tables that fit lie whole inside one chunk.
	for bi, b := range p.Blocks {
		if b.Kind != Table || opt.Unit.Count(b.Text) > opt.ChunkSize {
			continue
		}
		s := blockSpans[bi]
		whole := false
		for _, c := range chunks {
			if c.Start <= s.start && c.End >= s.end {
				whole = true
			}
		}
		if !whole {
			t.Errorf("table %d fits the budget but was split", bi)
		}
	}
}

// randomDocument generates Chinese/English text with headings, tables,
// code and the occasional sentence far over any budget.
func randomDocument(rng *rand.Rand) *Parsed {
	cjk := []rune("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质院")
	words := []string{"the", "policy", "applies", "to", "all", "staff", "hotel", "limit", "is", "e.g.", "3.14", "GPU", "v2.0", "Mr.", "Wang", "approved"}
	sentence := func() string {
		var b strings.Builder
		switch rng.Intn(4) {
		case 0:
			b.WriteString(strings.ToUpper(words[rng.Intn(len(words))][:1]) + "x")
			for i := rng.Intn(12); i >= 0; i-- {
				b.WriteString(" " + words[rng.Intn(len(words))])
			}
			b.WriteString([]string{". ", "! ", "? ", "; "}[rng.Intn(4)])
		case 1:
			if rng.Intn(8) == 0 {
				// Over-long: no terminator for a long run, commas now and then.
				for i := 0; i < 300+rng.Intn(400); i++ {
					b.WriteRune(cjk[rng.Intn(len(cjk))])
					if rng.Intn(25) == 0 {
						b.WriteRune('，')
					}
				}
				b.WriteRune('。')
				break
			}
			fallthrough
		default:
			for i := rng.Intn(40) + 1; i >= 0; i-- {
				b.WriteRune(cjk[rng.Intn(len(cjk))])
				if rng.Intn(12) == 0 {
					b.WriteRune('，')
				}
			}
			b.WriteString([]string{"。", "！", "？", "；", "。”", "……", "\n"}[rng.Intn(7)])
		}
		return b.String()
	}
	p := &Parsed{}
	for nb := 20 + rng.Intn(40); nb > 0; nb-- {
		switch k := rng.Intn(10); {
		case k < 2:
			p.Blocks = append(p.Blocks, Block{Kind: Heading, Level: 1 + rng.Intn(3), Text: fmt.Sprintf("第%d章 %c%c", nb, cjk[rng.Intn(len(cjk))], cjk[rng.Intn(len(cjk))])})
		case k == 2:
			var rows []string
			for r := rng.Intn(40) + 1; r > 0; r-- {
				rows = append(rows, fmt.Sprintf("城市: %c%c; 限额: %d", cjk[rng.Intn(len(cjk))], cjk[rng.Intn(len(cjk))], rng.Intn(1000)))
			}
			p.Blocks = append(p.Blocks, Block{Kind: Table, Header: "城市 | 限额", Text: strings.Join(rows, "\n")})
		case k == 3:
			p.Blocks = append(p.Blocks, Block{Kind: Code, Text: "func f() {\n\treturn 1\n}"})
		default:
			var b strings.Builder
			for s := rng.Intn(15) + 1; s > 0; s-- {
				b.WriteString(sentence())
			}
			p.Blocks = append(p.Blocks, Block{Kind: Paragraph, Text: strings.TrimSpace(b.String()), Page: 1 + nb/5})
		}
	}
	cleanParsed(p)
	return p
}

func TestSplitPropertiesRandomized(t *testing.T) {
	rng := rand.New(rand.NewSource(20261126))
	opts := []SplitOptions{
		DefaultSplitOptions(),
		{ChunkSize: 120, Overlap: 30},
		{ChunkSize: 40, Overlap: 10},
		{ChunkSize: 300, Overlap: 60, Unit: UnitRunes},
		{ChunkSize: 50, Overlap: 100, Unit: UnitRunes}, // overlap clamped to 25
		{ChunkSize: 16, Overlap: 0},
	}
	for doc := 0; doc < 30; doc++ {
		p := randomDocument(rng)
		for _, opt := range opts {
			chunks := Split(p, opt)
			if len(chunks) == 0 {
				t.Fatalf("doc %d: no chunks", doc)
			}
			ok := t.Run(fmt.Sprintf("doc%d/%+v", doc, opt), func(t *testing.T) {
				checkSplitInvariants(t, p, opt, chunks)
			})
			if !ok {
				return
			}
		}
	}
}

func BenchmarkSplitChinese2MB(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	p := &Parsed{}
	size := 0
	for size < 2<<20 {
		d := randomDocument(rng)
		for _, bl := range d.Blocks {
			p.Blocks = append(p.Blocks, bl)
			size += len(bl.Text) + 2
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Split(p, DefaultSplitOptions())
	}
}
