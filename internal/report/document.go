package report

// A document is what the renderers draw: the report (or the control mapping) as headings,
// paragraphs, lists and tables of plain text. Building it once and rendering it as Markdown or
// HTML keeps the two formats saying exactly the same thing, and keeps every value from the log
// plain text that each renderer escapes for its own syntax.
type document struct {
	Title string
	// Alert is shown first and prominently: the chain is not intact.
	Alert    []para
	Intro    []para
	Sections []section
}

// section is a heading with its content, in order: paragraphs, a table, notes, a list.
type section struct {
	// ID is the HTML anchor.
	ID    string
	Title string
	// Level is 2 for a section and 3 for a subsection.
	Level int
	Paras []para
	List  []para
	Table *table
	Notes []para
}

// table is a table of plain-text cells. Numeric columns are right-aligned.
type table struct {
	Head    []string
	Numeric []bool
	Rows    [][]para
}

// para is a run of text; spans marked Code are set in a code font (hashes, paths, ids).
type para []span

type span struct {
	Text string
	Code bool
}

// text makes a one-span paragraph of plain text; code and plain make spans.
func text(s string) para  { return para{{Text: s}} }
func code(s string) span  { return span{Text: s, Code: true} }
func plain(s string) span { return span{Text: s} }

// row builds a table row of plain-text cells.
func row(cells ...string) []para {
	out := make([]para, len(cells))
	for i, c := range cells {
		out[i] = text(c)
	}
	return out
}

// numeric marks the columns at the given indexes numeric, for a table of n columns.
func numeric(n int, cols ...int) []bool {
	out := make([]bool, n)
	for _, c := range cols {
		out[c] = true
	}
	return out
}
