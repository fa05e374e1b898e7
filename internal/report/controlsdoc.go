package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// controlsIntro explains what the mapping is and is not.
const controlsIntro = "Which gatehouse control addresses which item of the NIST AI RMF 1.0, the OWASP Top 10 for Agentic Applications 2026 and the NCCoE agent identity and authorization concerns. The mapping is gatehouse's reading of the frameworks, not a certification; docs/compliance.md gives the reasoning for every line."

// controlSections lays out the control mapping and the framework coverage. With a report, the
// control table has a column of the evidence the report's log holds; without one (gatehouse
// controls), a column saying which records would hold it.
func controlSections(r *Report) []section {
	controls, frameworks := Controls(), Frameworks()
	evidenceHead := "evidence in the audit log"
	if r != nil {
		evidenceHead = "evidence in this log"
	}
	t := &table{Head: []string{"control", "what it does", evidenceHead, "NIST AI RMF", "OWASP ASI 2026", "NCCoE"}}
	for i := range controls {
		c := &controls[i]
		evidence := c.Evidence
		if r != nil {
			evidence = r.Evidence(c.ID)
		}
		t.Rows = append(t.Rows, []para{
			para{code(c.ID), plain(": " + c.Name)}, text(c.Description), text(evidence),
			text(joinOr(c.RMF)), text(joinOr(c.ASI)), text(joinOr(c.NCCoE)),
		})
	}
	out := []section{{ID: "controls", Title: "Control mapping", Level: 2, Paras: []para{text(controlsIntro)}, Table: t}}

	out = append(out, section{ID: "coverage", Title: "Framework coverage", Level: 2,
		Paras: []para{text("Every item of each framework with the controls that address it and, where gatehouse addresses it only in part, what stays outside.")}})
	for _, fw := range frameworks {
		cov := coverage(fw.ID, controls)
		ft := &table{Head: []string{"item", "title", "controls", "scope"}}
		if fw.ID == NISTAIRMF {
			ft.Head = []string{"function", "item", "title", "controls", "scope"}
		}
		for _, it := range fw.Items {
			cells := []para{text(it.ID), text(it.Title), text(joinOr(cov[it.ID])), text(orDash(it.Scope))}
			if fw.ID == NISTAIRMF {
				cells = append([]para{text(it.Function)}, cells...)
			}
			ft.Rows = append(ft.Rows, cells)
		}
		out = append(out, section{ID: "coverage-" + fw.ID, Title: fw.Name, Level: 3, Table: ft, Notes: []para{text("Source: " + fw.Source)}})
	}
	return out
}

func joinOr(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// controlsDocument is the control mapping on its own, as gatehouse controls prints it.
func controlsDocument() *document {
	return &document{Title: "Gatehouse controls", Sections: controlSections(nil)}
}

// WriteControlsMarkdown writes the control mapping as CommonMark with GFM tables.
func WriteControlsMarkdown(w io.Writer) error { return writeMarkdown(w, controlsDocument()) }

// WriteControlsJSON writes the controls and the frameworks, each framework item listing the
// controls that address it, as indented JSON.
func WriteControlsJSON(w io.Writer) error {
	controls, frameworks := Controls(), Frameworks()
	type item struct {
		Item
		Controls []string `json:"controls"`
	}
	type framework struct {
		Framework
		Items []item `json:"items"`
	}
	out := struct {
		Controls   []Control   `json:"controls"`
		Frameworks []framework `json:"frameworks"`
	}{Controls: controls}
	for _, fw := range frameworks {
		cov := coverage(fw.ID, controls)
		f := framework{Framework: fw}
		for _, it := range fw.Items {
			f.Items = append(f.Items, item{Item: it, Controls: append([]string{}, cov[it.ID]...)})
		}
		out.Frameworks = append(out.Frameworks, f)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteControlsText writes the control mapping for a terminal: one block per control, then the
// coverage of each framework.
func WriteControlsText(w io.Writer) error {
	controls, frameworks := Controls(), Frameworks()
	var b strings.Builder
	b.WriteString("Gatehouse controls\n\n")
	wrap(&b, "", controlsIntro)
	b.WriteString("\n")
	titles := map[string]map[string]string{}
	for _, fw := range frameworks {
		titles[fw.ID] = map[string]string{}
		for _, it := range fw.Items {
			titles[fw.ID][it.ID] = it.Title
		}
	}
	for i := range controls {
		c := &controls[i]
		fmt.Fprintf(&b, "%s: %s\n", c.ID, c.Name)
		wrap(&b, "    ", c.Description)
		fmt.Fprintf(&b, "    evidence:        %s\n", c.Evidence)
		fmt.Fprintf(&b, "    NIST AI RMF:     %s\n", joinOr(c.RMF))
		asi := make([]string, len(c.ASI))
		for j, id := range c.ASI {
			asi[j] = id + " " + titles[OWASPASI][id]
		}
		fmt.Fprintf(&b, "    OWASP ASI 2026:  %s\n", orDash(strings.Join(asi, "; ")))
		fmt.Fprintf(&b, "    NCCoE:           %s\n\n", joinOr(c.NCCoE))
	}
	for _, fw := range frameworks {
		cov := coverage(fw.ID, controls)
		fmt.Fprintf(&b, "%s\n", fw.Name)
		for _, it := range fw.Items {
			label := it.ID
			if fw.ID == OWASPASI {
				label += " " + it.Title
			}
			fmt.Fprintf(&b, "  %-50s %s\n", label, joinOr(cov[it.ID]))
		}
		wrap(&b, "  ", "Source: "+fw.Source)
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes s as lines of at most 100 columns, each starting with indent.
func wrap(b *strings.Builder, indent, s string) {
	line := indent
	for _, word := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(word) > 100 {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
}
