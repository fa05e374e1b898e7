package threat

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

// corpusCase is one line of testdata/corpus/*.jsonl.
type corpusCase struct {
	ID       string `json:"id"`
	Label    string `json:"label"`    // malicious or benign
	Category string `json:"category"` // for malicious cases: the category a finding must carry
	Where    string `json:"where"`    // arguments, result or tool
	Input    any    `json:"input"`
	Note     string `json:"note"`
	// Known marks a case the scanner is known to get wrong: "miss" (malicious, scored below the
	// threshold) or "false_positive" (benign, scored at or above it). The test pins these too, so
	// an improvement shows up as a failure asking for the mark to be removed.
	Known string `json:"known,omitempty"`
	// Set is "held-out" for the cases written before the scanner was ever run on them and not
	// used to tune it; the rest were written while the rules were being built.
	Set string `json:"set,omitempty"`
}

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	var out []corpusCase
	ids := map[string]bool{}
	for _, file := range []string{"malicious.jsonl", "benign.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for line := 1; sc.Scan(); line++ {
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.UseNumber()
			dec.DisallowUnknownFields()
			var c corpusCase
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("%s:%d: %v", file, line, err)
			}
			want := strings.TrimSuffix(file, ".jsonl")
			switch {
			case c.Label != want:
				t.Fatalf("%s:%d: label %q in %s", file, line, c.Label, file)
			case ids[c.ID]:
				t.Fatalf("%s:%d: duplicate id %q", file, line, c.ID)
			case c.Where != "arguments" && c.Where != "result" && c.Where != "tool":
				t.Fatalf("%s:%d: where %q", file, line, c.Where)
			case c.Label == "malicious" && !validCategory(c.Category):
				t.Fatalf("%s:%d: category %q", file, line, c.Category)
			case c.Known != "" && c.Known != map[string]string{"malicious": "miss", "benign": "false_positive"}[c.Label]:
				t.Fatalf("%s:%d: known %q for a %s case", file, line, c.Known, c.Label)
			case c.Set != "" && c.Set != "held-out":
				t.Fatalf("%s:%d: set %q", file, line, c.Set)
			}
			ids[c.ID] = true
			out = append(out, c)
		}
	}
	return out
}

func validCategory(c string) bool {
	for _, x := range Categories {
		if x == c {
			return true
		}
	}
	return false
}

// scanCase runs the scanner the way the gateway will for the case's location.
func scanCase(s *Scanner, c corpusCase) policy.Threat {
	if c.Where == "tool" {
		m := c.Input.(map[string]any)
		name, _ := m["name"].(string)
		desc, _ := m["description"].(string)
		return s.ScanTool(name, desc, m["inputSchema"])
	}
	return s.ScanValue(c.Where, c.Input)
}

func hasCategory(t policy.Threat, cat string) bool {
	for _, f := range t.Findings {
		if f.Category == cat {
			return true
		}
	}
	return false
}

// TestCorpus asserts every labelled case: a malicious case scores at least DefaultThreshold and
// carries a finding of its category; a benign case scores below it. Cases marked known are held to
// their known (wrong) outcome.
func TestCorpus(t *testing.T) {
	s := newScanner(t)
	cases := loadCorpus(t)
	var mal, ben int
	for _, c := range cases {
		if c.Label == "malicious" {
			mal++
		} else {
			ben++
		}
		t.Run(c.ID, func(t *testing.T) {
			got := scanCase(s, c)
			hit := got.Score >= DefaultThreshold
			switch {
			case c.Label == "malicious" && c.Known == "":
				if !hit || !hasCategory(got, c.Category) {
					t.Errorf("got score %v with %v, want at least %v with a %s finding (%s)", got.Score, got.Findings, DefaultThreshold, c.Category, c.Note)
				}
			case c.Label == "malicious":
				if hit {
					t.Errorf("known miss now scores %v with %v: remove \"known\" from the case", got.Score, got.Findings)
				}
			case c.Known == "":
				if hit {
					t.Errorf("got score %v with %v, want below %v (%s)", got.Score, got.Findings, DefaultThreshold, c.Note)
				}
			default:
				if !hit {
					t.Errorf("known false positive now scores %v: remove \"known\" from the case", got.Score)
				}
			}
		})
	}
	if mal < 60 || ben < 60 {
		t.Errorf("corpus has %d malicious and %d benign cases, want at least 60 of each", mal, ben)
	}
}

// tally counts cases and hits.
type tally struct{ n, hit int }

func (t tally) String() string {
	return fmt.Sprintf("%d of %d (%.1f%%)", t.hit, t.n, 100*float64(t.hit)/float64(t.n))
}

// corpusRates are the detection and false-positive counts of the corpus, overall, per set and per
// category, and the text of every case's findings (the golden file).
type corpusRates struct {
	mal, ben map[string]*tally // by set: all, development, held-out
	byCat    map[string]*tally
	golden   string
}

func measureCorpus(t testing.TB) corpusRates {
	s := newScanner(t)
	r := corpusRates{mal: map[string]*tally{}, ben: map[string]*tally{}, byCat: map[string]*tally{}}
	for _, set := range []string{"all", "development", "held-out"} {
		r.mal[set], r.ben[set] = &tally{}, &tally{}
	}
	var golden strings.Builder
	for _, c := range loadCorpus(t) {
		got := scanCase(s, c)
		hit := got.Score >= DefaultThreshold
		fmt.Fprintf(&golden, "%s %s %.4f\n", c.ID, c.Label, got.Score)
		for _, f := range got.Findings {
			fmt.Fprintf(&golden, "    %s %s %.2f %s\n", f.Rule, f.Category, f.Weight, f.Where)
		}
		set := "development"
		if c.Set != "" {
			set = c.Set
		}
		if c.Label == "benign" {
			for _, k := range []string{"all", set} {
				r.ben[k].n++
				if hit {
					r.ben[k].hit++
				}
			}
			continue
		}
		ok := hit && hasCategory(got, c.Category)
		if r.byCat[c.Category] == nil {
			r.byCat[c.Category] = &tally{}
		}
		for _, tl := range []*tally{r.mal["all"], r.mal[set], r.byCat[c.Category]} {
			tl.n++
			if ok {
				tl.hit++
			}
		}
	}
	r.golden = golden.String()
	return r
}

// TestCorpusRates prints the detection and false-positive rates that docs/threat-scanner.md
// reports, and checks the golden file of every case's findings (go test -run TestCorpusRates
// -update to rewrite it after a deliberate change):
//
//	go test -run TestCorpusRates -v ./internal/policy/threat/
func TestCorpusRates(t *testing.T) {
	r := measureCorpus(t)
	t.Logf("threshold %.2f", DefaultThreshold)
	for _, set := range []string{"all", "development", "held-out"} {
		t.Logf("%-12s detection %-20s false positives %s", set, r.mal[set], r.ben[set])
	}
	cats := make([]string, 0, len(r.byCat))
	for c := range r.byCat {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Logf("  %-20s detected %s", c, r.byCat[c])
	}
	checkGolden(t, filepath.Join("testdata", "corpus", "findings.golden"), r.golden)
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the scanner's output; run go test -run %s -update and review the diff", path, t.Name())
	}
}

func newScanner(t testing.TB) *Scanner {
	t.Helper()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
