package rules

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamplesLoad loads every YAML example in the language reference that is a whole policy or a
// list of rules, so that the documentation cannot drift from the loader.
func TestDocsExamplesLoad(t *testing.T) {
	data, err := os.ReadFile("../../../docs/policy-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	n := 0
	for i, b := range blocks {
		src := b[1]
		switch {
		case strings.Contains(src, "\nrules:") || strings.HasPrefix(src, "rules:") || strings.HasPrefix(src, "name:"):
		case strings.HasPrefix(src, "- id:"):
			src = "rules:\n" + indent(src)
		case strings.HasPrefix(src, "when:"):
			src = "rules:\n  - id: doc\n    effect: allow\n" + indent(indent(src))
		case strings.HasPrefix(src, "- {field:"):
			src = "rules:\n  - id: doc\n    effect: allow\n    when:\n" + indent(indent(src))
		default:
			t.Errorf("block %d: not a policy, a rule list or a condition:\n%s", i, src)
			continue
		}
		if strings.HasPrefix(b[1], "when:") {
			// Alternative whens in one block: load each on its own.
			for j, group := range whenGroups(b[1]) {
				src := "rules:\n  - id: doc\n    effect: allow\n" + indent(indent(group))
				if _, err := Load("doc.yaml", []byte(src)); err != nil {
					t.Errorf("block %d part %d does not load:\n%s\n%v", i, j, src, err)
				}
			}
			n++
			continue
		}
		if _, err := Load("doc.yaml", []byte(src)); err != nil {
			t.Errorf("block %d does not load:\n%s\n%v", i, src, err)
		}
		n++
	}
	if n < 10 {
		t.Errorf("checked %d examples, want at least 10", n)
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

var trailingComment = regexp.MustCompile(`\s+#.*$`)

// whenGroups splits a block of alternative "when:" examples, dropping trailing comments.
func whenGroups(block string) []string {
	var groups []string
	for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		l = trailingComment.ReplaceAllString(l, "")
		if strings.HasPrefix(l, "when:") || len(groups) == 0 {
			groups = append(groups, "")
		}
		groups[len(groups)-1] += l + "\n"
	}
	return groups
}
