package threat

import (
	"math"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Score combines findings into one number in [0, 1): each distinct rule counts once, with its
// highest weight w, and the rules combine as independent pieces of evidence,
//
//	score = 1 − ∏ (1 − w_rule)
//
// so one rule of weight 0.8 scores 0.8, two rules of 0.5 score 0.75, and a rule matching a hundred
// times scores what it scores once. The score is rounded to four decimals so that it is stable in
// audit records. Findings from an external classifier combine the same way.
func Score(findings []policy.Finding) float64 {
	if len(findings) == 0 {
		return 0
	}
	p := 1.0
	for i, f := range findings {
		if f.Weight <= 0 {
			continue
		}
		w, dup := f.Weight, false
		for j := 0; j < i; j++ {
			if findings[j].Rule == f.Rule {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		for j := i + 1; j < len(findings); j++ {
			if findings[j].Rule == f.Rule && findings[j].Weight > w {
				w = findings[j].Weight
			}
		}
		p *= 1 - math.Min(w, 1)
	}
	return math.Round((1-p)*1e4) / 1e4
}

// Merge returns the threat of t together with more findings (from another value, or from an
// external classifier), rescored. Neither argument is modified.
func Merge(t policy.Threat, more ...policy.Finding) policy.Threat {
	if len(more) == 0 {
		return t
	}
	all := make([]policy.Finding, 0, len(t.Findings)+len(more))
	all = append(append(all, t.Findings...), more...)
	return policy.Threat{Score: Score(all), Findings: all}
}
