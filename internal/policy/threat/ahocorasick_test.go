package threat

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveMatches finds every (id, end) by brute force, reading a space in a pattern as a run of one
// or more spaces, the semantics the automaton implements.
func naiveMatches(text string, patterns []string) []string {
	var out []string
	for end := 1; end <= len(text); end++ {
		for id, p := range patterns {
			if matchesEndingAt(text, p, end) {
				out = append(out, fmt.Sprintf("%d@%d", id, end))
			}
		}
	}
	return out
}

func matchesEndingAt(text, p string, end int) bool {
	j := end
	for k := len(p) - 1; k >= 0; k-- {
		if j == 0 {
			return false
		}
		j--
		if text[j] != p[k] {
			return false
		}
		if p[k] == ' ' {
			for j > 0 && text[j-1] == ' ' && !(k > 0 && p[k-1] == ' ') {
				j--
			}
		}
	}
	return true
}

func automatonMatches(a *automaton, text string) []string {
	var out []string
	a.each([]byte(text), func(id, end int) { out = append(out, fmt.Sprintf("%d@%d", id, end)) })
	return out
}

func TestAutomaton(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		text     string
		want     []string
	}{
		{"overlapping", []string{"he", "she", "his", "hers"}, "ushers", []string{"1@4", "0@4", "3@6"}},
		{"nested suffixes", []string{"a", "aa", "aaa"}, "aaa", []string{"0@1", "1@2", "0@2", "2@3", "1@3", "0@3"}},
		{"space run", []string{"rm -rf"}, "x rm   -rf y", []string{"0@10"}},
		{"no space is not a space", []string{"| sh"}, "|sh", nil},
		{"no match", []string{"abc"}, "abd abx", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := newAutomaton(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			got := automatonMatches(a, tt.text)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestAutomatonAgainstNaive compares the automaton with brute force on random patterns and texts
// over a small alphabet, where overlaps and fail links are frequent.
func TestAutomatonAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int, first bool) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			c := "ab c"[r.IntN(4)]
			if (first && i == 0 || b.Len() > 0 && b.String()[b.Len()-1] == ' ') && c == ' ' {
				c = 'a'
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	for round := 0; round < 300; round++ {
		patterns := make([]string, 1+r.IntN(6))
		for i := range patterns {
			patterns[i] = word(1+r.IntN(4), true)
		}
		a, err := newAutomaton(patterns)
		if err != nil {
			t.Fatal(err)
		}
		text := word(r.IntN(40), false)
		got, want := automatonMatches(a, text), naiveMatches(text, patterns)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("patterns %q, text %q: got %v, want %v", patterns, text, got, want)
		}
	}
}

func TestAutomatonRejects(t *testing.T) {
	for _, ps := range [][]string{{""}, {" x"}} {
		if _, err := newAutomaton(ps); err == nil {
			t.Errorf("newAutomaton(%q): got no error, want one", ps)
		}
	}
}
