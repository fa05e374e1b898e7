package threat

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const docsPath = "../../../docs/threat-scanner.md"

// TestDocsRuleTable checks that docs/threat-scanner.md lists every rule with its categories and
// weight, and no rule that does not exist.
func TestDocsRuleTable(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z]+\\.[a-z0-9-]+)` \\| ([a-z_]+) \\| ([a-z_]+) \\| ([0-9.]+) \\|")
	documented := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = m[2:]
	}
	for _, r := range Rules() {
		cat := r.Category
		if cat == ToolPoisoning {
			cat = PromptInjection
		}
		want := []string{cat, r.ToolCategory, fmt.Sprintf("%.2f", r.Weight)}
		got, ok := documented[r.ID]
		if !ok {
			t.Errorf("rule %s is not in the docs' rule table", r.ID)
			continue
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("rule %s: docs say %v, code says %v", r.ID, got, want)
		}
		delete(documented, r.ID)
	}
	for id := range documented {
		t.Errorf("the docs list rule %s, which does not exist", id)
	}
}

// TestDocsCorpusRates checks that the rates docs/threat-scanner.md reports are the corpus's.
func TestDocsCorpusRates(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	r := measureCorpus(t)
	for _, set := range []string{"development", "held-out", "all"} {
		line := fmt.Sprintf("| %s | %s | %s |", set, r.mal[set], r.ben[set])
		bold := fmt.Sprintf("| **%s** | **%s** | **%s** |", set, r.mal[set], r.ben[set])
		if !strings.Contains(doc, line) && !strings.Contains(doc, bold) {
			t.Errorf("the docs do not report %q", line)
		}
	}
	for c, tl := range r.byCat {
		if line := fmt.Sprintf("| %s | %d of %d |", c, tl.hit, tl.n); !strings.Contains(doc, line) {
			t.Errorf("the docs do not report %q", line)
		}
	}
	if !strings.Contains(doc, fmt.Sprintf("**The threshold is %v**", DefaultThreshold)) {
		t.Errorf("the docs do not state the threshold %v", DefaultThreshold)
	}
}
