package pack

import (
	"fmt"
	"regexp"
	"strings"
)

// compileGlob compiles a path glob with the meaning of Python's fnmatch.fnmatchcase, which the
// published evaluator uses: * matches any run of characters (slashes included), ? any one
// character, [seq] one character of seq (ranges a-z, ! negates; a [ with no closing ] is a literal
// [), everything else itself, case-sensitively, against the whole path. It becomes an RE2
// expression, so matching takes time linear in the path whatever the pattern.
//
// A set is read as fnmatch.translate reads it (Python 3.11): its text is cut into chunks at the
// hyphens that make ranges. A range whose ends are reversed ([z-a]) is refused: Python drops it with
// both its ends, and the sets that leaves are ones no author means.
func compileGlob(pattern string) (*regexp.Regexp, error) {
	pat := []rune(pattern)
	var b strings.Builder
	b.WriteString(`^(?s:`)
	n := len(pat)
	star := false
	for i := 0; i < n; {
		c := pat[i]
		i++
		switch c {
		case '*':
			if !star {
				b.WriteString(`.*`)
			}
			star = true
			continue
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < n && pat[j] == '!' {
				j++
			}
			if j < n && pat[j] == ']' {
				j++
			}
			for j < n && pat[j] != ']' {
				j++
			}
			if j >= n {
				b.WriteString(`\[`)
				break
			}
			set, err := globSet(pat, i, j)
			if err != nil {
				return nil, err
			}
			b.WriteString(set)
			i = j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
		star = false
	}
	b.WriteString(`)\z`)
	return regexp.Compile(b.String())
}

// globMatcher is compileGlob's match, without a regular expression for a glob whose only special
// character is * (every glob of the published pack): the common case, about ten times faster.
func globMatcher(pattern string) (func(string) bool, error) {
	if strings.ContainsAny(pattern, "?[") {
		re, err := compileGlob(pattern)
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	}
	parts := strings.Split(pattern, "*")
	return func(s string) bool { return starMatch(parts, s) }, nil
}

// starMatch matches s against the literal parts of a glob split at its stars: the first part is a
// prefix, the last a suffix, and the others occur in order in between, each at its first place
// (which is never worse, as the star after it absorbs anything).
func starMatch(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(mid, p)
		if i < 0 {
			return false
		}
		mid = mid[i+len(p):]
	}
	return true
}

// globSet is the RE2 form of the set pat[i:j] (between the brackets).
func globSet(pat []rune, i, j int) (string, error) {
	var chunks [][]rune
	if !containsRune(pat[i:j], '-') {
		chunks = [][]rune{pat[i:j]}
	} else {
		k := i + 1
		if pat[i] == '!' {
			k = i + 2
		}
		for {
			k = indexRune(pat, '-', k, j)
			if k < 0 {
				break
			}
			chunks = append(chunks, pat[i:k])
			i = k + 1
			k += 3
		}
		if last := pat[i:j]; len(last) > 0 {
			chunks = append(chunks, last)
		} else {
			chunks[len(chunks)-1] = append(append([]rune(nil), chunks[len(chunks)-1]...), '-')
		}
		for k := 1; k < len(chunks); k++ {
			if prev := chunks[k-1]; prev[len(prev)-1] > chunks[k][0] {
				return "", fmt.Errorf("the range %c-%c is reversed", prev[len(prev)-1], chunks[k][0])
			}
		}
	}
	// The set's characters, with the chunk boundaries that are ranges.
	var items []rune
	var rangeAfter []bool // rangeAfter[x]: items[x] and items[x+1] are a range
	for c, chunk := range chunks {
		for _, r := range chunk {
			items = append(items, r)
			rangeAfter = append(rangeAfter, false)
		}
		if c < len(chunks)-1 && len(items) > 0 {
			rangeAfter[len(items)-1] = true
		}
	}
	negate := len(items) > 0 && items[0] == '!'
	if negate {
		items, rangeAfter = items[1:], rangeAfter[1:]
	}
	if len(items) == 0 { // "[!]]" cannot get here: the set is "!]"
		return "", fmt.Errorf("an empty set")
	}
	var b strings.Builder
	b.WriteByte('[')
	if negate {
		b.WriteByte('^')
	}
	for x := 0; x < len(items); x++ {
		fmt.Fprintf(&b, `\x{%x}`, items[x])
		if rangeAfter[x] && x+1 < len(items) {
			fmt.Fprintf(&b, `-\x{%x}`, items[x+1])
			x++
		}
	}
	b.WriteByte(']')
	return b.String(), nil
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// indexRune is str.find(r, from, to) over runes.
func indexRune(rs []rune, r rune, from, to int) int {
	for k := max(from, 0); k < to && k < len(rs); k++ {
		if rs[k] == r {
			return k
		}
	}
	return -1
}
