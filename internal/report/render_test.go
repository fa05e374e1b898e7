package report

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// hostile are names an agent or a server controls, each trying to break out of the report: HTML
// and script injection, Markdown table and emphasis syntax, line breaks, a bidirectional override,
// an entity reference, a code-span fence.
var hostile = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(1)>`,
	"tool|with|pipes",
	"*bold* _under_ [link](http://evil.example) ![img](x)",
	"line\nbreak\r\n# heading",
	"left\u202eright",
	"&lt;entity&gt; &amp;",
	"`code``fence`",
	"1. not a list",
	"- not a list",
}

// writeHostileLog writes a log whose agents, tenants, tools and rules are the hostile names.
func writeHostileLog(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "hostile.jsonl")
	c := &clock{t: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)}
	w, err := auditlog.Open(auditlog.Options{Path: path, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hostile {
		r := &auditlog.Record{DecisionID: "dec", Agent: h, Tenant: h, Tool: h, RuleID: h, Engine: "rules",
			Method: "tools/call", Effect: "require_approval", Code: "approval_required", ApprovalID: h, Roles: []string{h}, Status: "refused"}
		if i%2 == 0 {
			r.Code = "threat_detected"
		}
		if err := w.Submit(r).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestHTMLIsOneSafeDocument(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files func(t *testing.T) (string, []string)
	}{
		{"fixture", func(t *testing.T) (string, []string) {
			dir := t.TempDir()
			return dir, []string{writeFixture(t, dir)}
		}},
		{"hostile names", func(t *testing.T) (string, []string) {
			dir, path := writeHostileLog(t)
			return dir, []string{path}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, files := tc.files(t)
			_, out, _ := render(t, dir, Options{Files: files})
			if !bytes.HasPrefix(out, []byte("<!DOCTYPE html>\n<html lang=\"en\">")) {
				t.Errorf("does not start as an HTML5 document: %.60q", out)
			}
			doc, err := html.Parse(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			ids, anchors := map[string]int{}, []string{}
			var texts []string
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				switch n.Type {
				case html.ElementNode:
					counts[n.Data]++
					for _, a := range n.Attr {
						if a.Key == "id" {
							ids[a.Val]++
						}
						if a.Key == "href" {
							anchors = append(anchors, strings.TrimPrefix(a.Val, "#"))
						}
						if a.Key == "src" || strings.HasPrefix(a.Key, "on") || (a.Key == "href" && !strings.HasPrefix(a.Val, "#")) {
							t.Errorf("<%s %s=%q>: reaches outside the document or runs code", n.Data, a.Key, a.Val)
						}
					}
				case html.TextNode:
					texts = append(texts, n.Data)
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			for id, n := range ids {
				if n != 1 {
					t.Errorf("id %q appears %d times", id, n)
				}
			}
			for _, a := range anchors {
				if ids[a] != 1 {
					t.Errorf("link to #%s, which is not an id", a)
				}
			}
			for _, el := range []string{"html", "head", "body", "title", "style", "main", "h1"} {
				if counts[el] != 1 {
					t.Errorf("%d <%s> elements, want 1", counts[el], el)
				}
			}
			for _, el := range []string{"script", "img", "link", "iframe", "object", "embed", "form", "base"} {
				if counts[el] != 0 {
					t.Errorf("%d <%s> elements, want none", counts[el], el)
				}
			}
			if counts["table"] < 10 {
				t.Errorf("%d tables, want the report's tables", counts["table"])
			}
			if tc.name == "hostile names" {
				all := strings.Join(texts, "")
				for _, want := range []string{"<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "&lt;entity&gt; &amp;"} {
					if !strings.Contains(all, want) {
						t.Errorf("the text %q is not shown as text", want)
					}
				}
				if strings.Contains(all, "\u202e") {
					t.Error("a bidirectional override reached the document")
				}
			}
		})
	}
}

// mdCells counts the cells of a Markdown table row the way GFM splits it (before any inline
// parsing): at every | not immediately preceded by a backslash.
func mdCells(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			n++
		}
	}
	return n - 1
}

func TestMarkdownTablesAndHeadingsHold(t *testing.T) {
	dir, path := writeHostileLog(t)
	md, _, _ := render(t, dir, Options{Files: []string{path}})
	lines := strings.Split(string(md), "\n")
	headings, tables := 0, 0
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "#") {
			headings++
			if !strings.HasPrefix(line, "# Gatehouse") && !strings.HasPrefix(line, "## ") && !strings.HasPrefix(line, "### ") {
				t.Errorf("line %d: a heading that is not the report's: %q", i+1, line)
			}
		}
		if !strings.HasPrefix(line, "|") {
			continue
		}
		// A table: a header, a delimiter row, rows with as many cells as the header.
		tables++
		want := mdCells(line)
		if i+1 >= len(lines) || mdCells(lines[i+1]) != want || strings.Trim(lines[i+1], "|-:") != "" {
			t.Fatalf("line %d: table header %q is not followed by a delimiter row of %d cells", i+1, line, want)
		}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			if got := mdCells(lines[i]); got != want {
				t.Errorf("line %d: %d cells, want %d: %q", i+1, got, want, lines[i])
			}
		}
		if i < len(lines) && lines[i] != "" {
			t.Errorf("line %d: table not followed by a blank line: %q", i+1, lines[i])
		}
	}
	if headings < 10 || tables < 10 {
		t.Errorf("found %d headings and %d tables, want the report's", headings, tables)
	}
	// Code spans show their content literally; everything else must be escaped.
	prose := stripCodeSpans(string(md))
	for _, bad := range []string{"<script", "<img", "&lt;", "\u202e", "*bold*", "[link](", "\n# heading", "\n1. not", "\n- not"} {
		if unescaped(prose, bad) {
			t.Errorf("unescaped %q in the Markdown", bad)
		}
	}
}

// unescaped reports whether sub occurs in s other than right after a backslash.
func unescaped(s, sub string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], sub)
		if j < 0 {
			return false
		}
		if at := i + j; at == 0 || s[at-1] != '\\' {
			return true
		}
		i += j + 1
	}
}

// stripCodeSpans removes CommonMark code spans: a run of n backticks up to the next run of exactly n.
func stripCodeSpans(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '`' {
			b.WriteByte(s[i])
			i++
			continue
		}
		n := 0
		for i+n < len(s) && s[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(s); {
			if s[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(s) && s[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 { // not a code span: literal backticks
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		i = end
	}
	return b.String()
}

func TestMdText(t *testing.T) {
	tests := []struct {
		in         string
		blockStart bool
		want       string
	}{
		{"refund-small", false, "refund-small"},
		{"policy_deny", false, "policy_deny"},
		{"_under_", false, `\_under\_`},
		{"a*b", false, `a\*b`},
		{"x|y", false, `x\|y`},
		{"<b>&amp;", false, `\<b\>\&amp;`},
		{"[a](b)", false, `\[a\](b)`},
		{"~~s~~", false, `\~\~s\~\~`},
		{`back\slash`, false, `back\\slash`},
		{"a\nb\tc", false, "a b c"},
		{"bidi\u202eoverride", false, "bidi\ufffdoverride"},
		{"# h", true, `\# h`},
		{"- item", true, `\- item`},
		{"12. item", true, `12\. item`},
		{"12. item", false, "12. item"},
		{"3) item", true, `3\) item`},
		{"version 1.2", true, "version 1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := mdText(tt.in, tt.blockStart); got != tt.want {
				t.Errorf("mdText(%q, %v) = %q, want %q", tt.in, tt.blockStart, got, tt.want)
			}
		})
	}
}

func TestMdCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "`abc`"},
		{"a`b", "``a`b``"},
		{"`x``", "``` `x`` ```"},
		{"a|b", "`a\\|b`"},
	}
	for _, tt := range tests {
		if got := mdCode(tt.in); got != tt.want {
			t.Errorf("mdCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
