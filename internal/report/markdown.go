package report

import (
	"bufio"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Markdown writes the report as CommonMark, with GitHub-flavoured tables.
func (r *Report) Markdown(w io.Writer) error { return writeMarkdown(w, r.document()) }

func writeMarkdown(w io.Writer, d *document) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("# " + mdText(d.Title, true) + "\n\n")
	for i, p := range d.Alert {
		if i > 0 {
			bw.WriteString(">\n")
		}
		if i == 0 {
			bw.WriteString("> **" + mdPara(p, false) + "**\n")
		} else {
			bw.WriteString("> " + mdPara(p, true) + "\n")
		}
	}
	if len(d.Alert) > 0 {
		bw.WriteString("\n")
	}
	for _, p := range d.Intro {
		bw.WriteString(mdPara(p, true) + "\n\n")
	}
	for _, s := range d.Sections {
		bw.WriteString(strings.Repeat("#", s.Level) + " " + mdText(s.Title, true) + "\n\n")
		for _, p := range s.Paras {
			bw.WriteString(mdPara(p, true) + "\n\n")
		}
		if s.Table != nil {
			mdTable(bw, s.Table)
			bw.WriteString("\n")
		}
		for _, p := range s.Notes {
			bw.WriteString(mdPara(p, true) + "\n\n")
		}
		for _, p := range s.List {
			bw.WriteString("- " + mdPara(p, true) + "\n")
		}
		if len(s.List) > 0 {
			bw.WriteString("\n")
		}
	}
	return bw.Flush()
}

func mdTable(bw *bufio.Writer, t *table) {
	bw.WriteString("|")
	for _, h := range t.Head {
		bw.WriteString(" " + mdText(h, false) + " |")
	}
	bw.WriteString("\n|")
	for i := range t.Head {
		if i < len(t.Numeric) && t.Numeric[i] {
			bw.WriteString("---:|")
		} else {
			bw.WriteString("---|")
		}
	}
	bw.WriteString("\n")
	for _, row := range t.Rows {
		bw.WriteString("|")
		for _, cell := range row {
			bw.WriteString(" " + mdPara(cell, false) + " |")
		}
		bw.WriteString("\n")
	}
}

// mdPara renders a paragraph; start says it begins a block, where a leading character could
// start a list, heading or quote.
func mdPara(p para, start bool) string {
	var b strings.Builder
	for i, s := range p {
		if s.Code {
			b.WriteString(mdCode(s.Text))
		} else {
			b.WriteString(mdText(s.Text, start && i == 0))
		}
	}
	return b.String()
}

// mdText escapes s so that it renders as exactly its text: every character that could start
// emphasis, a link, an HTML tag or entity, a code span or a table cell boundary is backslash-escaped
// (CommonMark lets any ASCII punctuation be), and at the start of a block so is any character that
// would make a list, heading, quote or thematic break. Line breaks, control and format characters,
// which could break the table or hide text, are replaced by clean.
func mdText(s string, blockStart bool) string {
	s = clean(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	prev := rune(-1)
	for i, r := range s {
		next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
		switch {
		case strings.ContainsRune("\\`*[]<>|&~", r):
			b.WriteByte('\\')
		case r == '_' && !(isWord(prev) && isWord(next)):
			b.WriteByte('\\')
		case blockStart && i == 0 && strings.ContainsRune("#-+=", r):
			b.WriteByte('\\')
		case blockStart && (r == '.' || r == ')') && allDigits(s[:i]) && i > 0:
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// mdCode renders s as a code span: fenced by one more backtick than its longest run of backticks,
// padded when it starts or ends with one, with | escaped as GFM tables require even inside code.
func mdCode(s string) string {
	s = clean(s)
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || s == "" {
		s = " " + s + " "
	}
	return fence + strings.ReplaceAll(s, "|", `\|`) + fence
}

// clean replaces what must not reach a rendered report from a log: line breaks and tabs become
// spaces, and other control characters and format characters (bidirectional overrides,
// zero-width characters that make one name look like another) become U+FFFD.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
