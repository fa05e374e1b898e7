package rules

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Severity says whether a Problem refuses the policy (error) or only deserves a reviewer's eye
// (warning).
type Severity string

// The two severities of a load problem.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Problem is one located finding from Load.
type Problem struct {
	// File is the file name given to Load.
	File string `json:"file"`
	// Line and Column are 1-based positions in the file; Line is always at least 1.
	Line   int `json:"line"`
	Column int `json:"column"`
	// RuleID names the rule the problem is in: its id, or rules[N] (0-based) when it has none. It is
	// empty for problems outside any rule.
	RuleID   string   `json:"rule_id,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String formats the problem as file:line: rule-id: message, the form editors and CI logs link to.
// Warnings carry "warning: " before the message.
func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	if p.RuleID != "" {
		b.WriteString(p.RuleID)
		b.WriteString(": ")
	}
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError is the error Load returns for a policy it refuses. It holds every problem found, errors
// and warnings, in file order.
type LoadError struct {
	Problems []Problem
}

// Error lists every problem, one per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects findings while a file is loaded.
type problems struct {
	file  string
	found []Problem
	// label names the rule of the findings being recorded with the rule being loaded; empty outside rules.
	label string
}

func (ps *problems) add(sev Severity, line, col int, msg string) {
	if line < 1 {
		line, col = 1, 1
	}
	ps.found = append(ps.found, Problem{File: ps.file, Line: line, Column: col, RuleID: ps.label, Severity: sev, Message: msg})
}

// errorf records an error located at n (at line 1 when n is nil).
func (ps *problems) errorf(n *yaml.Node, format string, args ...any) {
	line, col := pos(n)
	ps.add(SeverityError, line, col, fmt.Sprintf(format, args...))
}

// warnf records a warning located at n.
func (ps *problems) warnf(n *yaml.Node, format string, args ...any) {
	line, col := pos(n)
	ps.add(SeverityWarning, line, col, fmt.Sprintf(format, args...))
}

func pos(n *yaml.Node) (int, int) {
	if n == nil {
		return 1, 1
	}
	return n.Line, n.Column
}

func (ps *problems) failed() bool {
	for _, p := range ps.found {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// sorted returns the findings in file order; findings at the same place keep the order they were
// found in.
func (ps *problems) sorted() []Problem {
	out := append([]Problem(nil), ps.found...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out
}
