package ingest

import (
	"context"
	"regexp"
	"strings"
)

func init() {
	RegisterLoader(markdownLoader{}, ".md", ".markdown", ".mdown", ".mkd")
}

// markdownLoader reads CommonMark/GFM text: ATX and setext headings, fenced
// and indented code kept as Code blocks, pipe tables as Table blocks, and
// inline markup stripped (emphasis, links keep their text, images dropped).
type markdownLoader struct{}

func (markdownLoader) Format() string { return "markdown" }

var (
	mdATX       = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	mdFence     = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})(.*)$")
	mdSetext1   = regexp.MustCompile(`^ {0,3}=+[ \t]*$`)
	mdSetext2   = regexp.MustCompile(`^ {0,3}-+[ \t]*$`)
	mdRule      = regexp.MustCompile(`^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$`)
	mdTableSep  = regexp.MustCompile(`^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$`)
	mdLinkDef   = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:[ \t]*\S+`)
	mdBullet    = regexp.MustCompile(`^ {0,3}[-*+][ \t]+`)
	mdOrdered   = regexp.MustCompile(`^ {0,3}\d{1,9}[.)][ \t]+`)
	mdQuote     = regexp.MustCompile(`^ {0,3}>[ \t]?`)
	mdImage     = regexp.MustCompile(`!\[[^\]]*\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])`)
	mdLink      = regexp.MustCompile(`\[([^\]]*)\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])`)
	mdAutolink  = regexp.MustCompile(`<((?:https?|ftp|mailto):[^>\s]+|[^@>\s]+@[^>\s]+)>`)
	mdHTMLTag   = regexp.MustCompile(`</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>`)
	mdStrong    = regexp.MustCompile(`\*\*(\S(?:[^*]*?\S)?)\*\*`)
	mdStrongU   = regexp.MustCompile(`(^|[^\p{L}\p{N}_])__(\S(?:[^_]*?\S)?)__`)
	mdEm        = regexp.MustCompile(`\*(\S(?:[^*]*?\S)?)\*`)
	mdEmU       = regexp.MustCompile(`(^|[^\p{L}\p{N}_])_(\S(?:[^_]*?\S)?)_($|[^\p{L}\p{N}_])`)
	mdStrike    = regexp.MustCompile(`~~(\S(?:[^~]*?\S)?)~~`)
	mdEscape    = regexp.MustCompile("\\\\([!-/:-@\\[-`{-~])")
	mdCodeSpan  = regexp.MustCompile("(`+)(.+?)(`+)")
	mdHTMLBlock = regexp.MustCompile(`^ {0,3}<!--`)
)

// Sniff accepts text with a Markdown heading or code fence in its first lines.
func (markdownLoader) Sniff(head []byte) bool {
	s, _, err := decodeText("", head, true)
	if err != nil {
		return false
	}
	score := 0
	for _, ln := range firstLines(s, 40) {
		switch {
		case mdATX.MatchString(ln) && strings.HasPrefix(strings.TrimSpace(ln), "#"):
			score += 2
		case mdFence.MatchString(ln), mdTableSep.MatchString(ln) && strings.Contains(ln, "|"):
			score += 2
		case mdLink.MatchString(ln), mdBullet.MatchString(ln):
			score++
		}
	}
	return score >= 2
}

func (markdownLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	s, enc, err := decodeText(name, data, false)
	if err != nil {
		return nil, err
	}
	p := &Parsed{Format: "markdown"}
	if enc != "utf-8" {
		p.Warnings = append(p.Warnings, "decoded as "+enc)
	}
	p.Blocks, p.Title = parseMarkdown(s)
	return p, ctx.Err()
}

func leadingIndent(ln string) int {
	n := 0
	for _, r := range ln {
		switch r {
		case ' ':
			n++
		case '\t':
			n += 4 - n%4
		default:
			return n
		}
	}
	return n
}

func parseMarkdown(src string) (blocks []Block, title string) {
	src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(src, "\n")
	i := 0
	// YAML front matter.
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "---" {
		for j := 1; j < len(lines) && j < 200; j++ {
			if t := strings.TrimSpace(lines[j]); t == "---" || t == "..." {
				i = j + 1
				break
			}
		}
	}
	var para []string
	flush := func() {
		if len(para) > 0 {
			blocks = append(blocks, Block{Kind: Paragraph, Text: stripInline(strings.Join(para, "\n"))})
			para = nil
		}
	}
	heading := func(level int, text string) {
		flush()
		text = stripInline(strings.TrimSpace(text))
		if text == "" {
			return
		}
		if level == 1 && title == "" {
			title = text
		}
		blocks = append(blocks, Block{Kind: Heading, Level: level, Text: text})
	}
	prevBlank := true
	for ; i < len(lines); i++ {
		ln := lines[i]
		trimmed := strings.TrimSpace(ln)
		blank := trimmed == ""
		wasBlank := prevBlank
		prevBlank = blank
		if blank {
			flush()
			continue
		}
		if m := mdFence.FindStringSubmatch(ln); m != nil && !(m[2][0] == '`' && strings.Contains(m[3], "`")) {
			flush()
			fence := m[2]
			var code []string
			j := i + 1
			for ; j < len(lines); j++ {
				t := strings.TrimSpace(lines[j])
				if leadingIndent(lines[j]) < 4 && strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
					break
				}
				code = append(code, strings.TrimPrefix(lines[j], m[1]))
			}
			if len(code) > 0 {
				blocks = append(blocks, Block{Kind: Code, Text: strings.Join(code, "\n")})
			}
			i = j
			prevBlank = true
			continue
		}
		if leadingIndent(ln) >= 4 && len(para) == 0 && wasBlank {
			var code []string
			j := i
			for ; j < len(lines); j++ {
				if strings.TrimSpace(lines[j]) != "" && leadingIndent(lines[j]) < 4 {
					break
				}
				code = append(code, lines[j])
			}
			blocks = append(blocks, Block{Kind: Code, Text: strings.Join(code, "\n")})
			i = j - 1
			prevBlank = true
			continue
		}
		if m := mdATX.FindStringSubmatch(ln); m != nil {
			heading(len(m[1]), m[2])
			continue
		}
		if len(para) > 0 && mdSetext1.MatchString(ln) {
			text := strings.Join(para, " ")
			para = nil
			heading(1, text)
			continue
		}
		if len(para) > 0 && mdSetext2.MatchString(ln) {
			text := strings.Join(para, " ")
			para = nil
			heading(2, text)
			continue
		}
		if mdRule.MatchString(ln) {
			flush()
			continue
		}
		if strings.Contains(ln, "|") && i+1 < len(lines) && mdTableSep.MatchString(lines[i+1]) && strings.Contains(lines[i+1], "-") {
			flush()
			rows := [][]string{splitTableRow(ln)}
			j := i + 2
			for ; j < len(lines); j++ {
				if strings.TrimSpace(lines[j]) == "" || !strings.Contains(lines[j], "|") {
					break
				}
				rows = append(rows, splitTableRow(lines[j]))
			}
			blocks = append(blocks, tableBlocks(rows)...)
			i = j - 1
			continue
		}
		if mdHTMLBlock.MatchString(ln) {
			flush()
			j := i
			for ; j < len(lines) && !strings.Contains(lines[j], "-->"); j++ {
			}
			i = j
			prevBlank = true
			continue
		}
		if mdLinkDef.MatchString(ln) {
			continue
		}
		for mdQuote.MatchString(ln) {
			ln = mdQuote.ReplaceAllString(ln, "")
		}
		if mdBullet.MatchString(ln) || mdOrdered.MatchString(ln) {
			flush()
			ln = mdBullet.ReplaceAllString(ln, "")
		}
		para = append(para, strings.TrimSpace(ln))
	}
	flush()
	return blocks, title
}

// splitTableRow cuts a pipe-table row into cells, honouring \| escapes.
func splitTableRow(ln string) []string {
	ln = strings.TrimSpace(ln)
	ln = strings.TrimPrefix(ln, "|")
	if strings.HasSuffix(ln, "|") && !strings.HasSuffix(ln, "\\|") {
		ln = ln[:len(ln)-1]
	}
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(ln); i++ {
		switch {
		case ln[i] == '\\' && i+1 < len(ln) && ln[i+1] == '|':
			cur.WriteByte('|')
			i++
		case ln[i] == '|':
			cells = append(cells, stripInline(strings.TrimSpace(cur.String())))
			cur.Reset()
		default:
			cur.WriteByte(ln[i])
		}
	}
	return append(cells, stripInline(strings.TrimSpace(cur.String())))
}

// stripInline removes inline Markdown: code spans keep their content, images
// go, links keep their text, emphasis marks and HTML tags go, escapes resolve.
func stripInline(s string) string {
	var out strings.Builder
	last := 0
	for _, m := range mdCodeSpan.FindAllStringSubmatchIndex(s, -1) {
		if s[m[2]:m[3]] != s[m[6]:m[7]] {
			continue
		}
		out.WriteString(stripInlineMarks(s[last:m[0]]))
		out.WriteString(strings.TrimSpace(s[m[4]:m[5]]))
		last = m[1]
	}
	out.WriteString(stripInlineMarks(s[last:]))
	return out.String()
}

func stripInlineMarks(s string) string {
	// Hide escaped characters in the private use area while markup is removed.
	s = mdEscape.ReplaceAllStringFunc(s, func(e string) string { return string(rune(0xe000 + int(e[1]))) })
	s = mdImage.ReplaceAllString(s, "")
	s = mdLink.ReplaceAllString(s, "$1")
	s = mdAutolink.ReplaceAllString(s, "$1")
	s = mdHTMLTag.ReplaceAllString(s, "")
	s = mdStrong.ReplaceAllString(s, "$1")
	s = mdStrongU.ReplaceAllString(s, "$1$2")
	s = mdEm.ReplaceAllString(s, "$1")
	s = mdEmU.ReplaceAllString(s, "$1$2$3")
	s = mdStrike.ReplaceAllString(s, "$1")
	return strings.Map(func(r rune) rune {
		if r >= 0xe000 && r < 0xe080 {
			return r - 0xe000
		}
		return r
	}, s)
}
