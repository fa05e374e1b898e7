package report

import (
	"strings"
	"testing"
)

// FuzzMdText checks that any text from a log stays one table cell of one line in the Markdown
// report: no line break, no unescaped pipe, no unescaped character that opens HTML, an entity,
// emphasis, a link or a code span, whether set as text or as code.
func FuzzMdText(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	f.Add("a\\|b")
	f.Add("``|``")
	f.Fuzz(func(t *testing.T, s string) {
		for _, cell := range []string{mdText(s, false), mdText(s, true), mdCode(s)} {
			if strings.ContainsAny(cell, "\r\n") {
				t.Fatalf("%q renders with a line break: %q", s, cell)
			}
			if n := mdCells("| " + cell + " |"); n != 1 {
				t.Fatalf("%q renders as %d cells: %q", s, n, cell)
			}
		}
		prose := mdText(s, false)
		for i := 0; i < len(prose); i++ {
			if prose[i] == '\\' {
				i++
				continue
			}
			if strings.IndexByte("`*[]<>|&~", prose[i]) >= 0 {
				t.Fatalf("%q renders with an unescaped %q: %q", s, prose[i], prose)
			}
		}
	})
}
