package threat

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// FuzzScan feeds arbitrary text to the scanner: it must never panic, must be deterministic, must
// report only known rules with their weights and locations inside the value, must score in [0, 1],
// and must take time linear in the input. The time bound is relative — at most 100 times a scan of
// ordinary text of the same length, timed just before, plus 50 ms — so that the race detector or a
// loaded machine does not fail it, while a quadratic path (thousands of times slower at these
// sizes) would.
func FuzzScan(f *testing.F) {
	for _, rc := range ruleCases {
		for _, p := range rc.positive {
			f.Add(p)
		}
	}
	f.Add(benchText(4096))
	f.Add(strings.Repeat("../", 2000))
	f.Add(strings.Repeat("%25", 3000))
	f.Add(strings.Repeat("aWdub3Jl", 1000))
	f.Add(strings.Repeat("ignore ", 1000))
	f.Add(strings.Repeat("http://", 1000))
	f.Add(strings.Repeat("\u200b", 1000))
	f.Add(strings.Repeat("ﷺ", 1000)) // decomposes to 18 characters
	s, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	known := map[string]float64{}
	for _, r := range s.Rules() {
		known[r.ID] = r.Weight
	}
	f.Fuzz(func(t *testing.T, text string) {
		ref := benchText(len(text))
		start := time.Now()
		s.ScanText("x", ref)
		refTime := time.Since(start)
		start = time.Now()
		found := s.ScanText("arguments.x", text)
		if d, limit := time.Since(start), 100*refTime+50*time.Millisecond; d > limit {
			t.Fatalf("scanning %d bytes took %v, over %v (100 times ordinary text plus 50 ms)", len(text), d, limit)
		}
		v := map[string]any{"a": text, text: []any{text, map[string]any{"k": text}}}
		th := s.ScanValue("arguments", v)
		tool := s.ScanTool(text, text, v)
		if again := s.ScanValue("arguments", v); !cmp.Equal(th, again) {
			t.Fatalf("not deterministic: %v then %v", th, again)
		}
		for _, got := range []struct {
			root     string
			score    float64
			findings int
		}{{"arguments", th.Score, len(th.Findings)}, {"tool.", tool.Score, len(tool.Findings)}} {
			if got.score < 0 || got.score > 1 || got.findings > DefaultMaxFindings+int(numRules) {
				t.Fatalf("%s: score %v with %d findings", got.root, got.score, got.findings)
			}
		}
		for _, fs := range [][]policy.Finding{th.Findings, tool.Findings, found} {
			for _, fd := range fs {
				if w, ok := known[fd.Rule]; !ok || w != fd.Weight || !validCategory(fd.Category) ||
					!(strings.HasPrefix(fd.Where, "arguments") || strings.HasPrefix(fd.Where, "tool.")) {
					t.Fatalf("bad finding %+v", fd)
				}
			}
		}
		if Score(th.Findings) != th.Score {
			t.Fatalf("score %v is not Score(findings) = %v", th.Score, Score(th.Findings))
		}
	})
}
