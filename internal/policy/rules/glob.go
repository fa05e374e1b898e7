package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Glob syntax, for tools, servers, agents and tenants:
//
//	*      any run of characters, including none, '.' and '/'
//	?      exactly one character
//	[abc]  one character of the class; ranges [a-z]; negation [!a-z] or [^a-z]
//	\x     the character x itself (\*, \?, \[, \\)
//
// Every other character matches itself, case-sensitively. A glob matches the whole name.
//
// '*' crosses '.' and '/' on purpose: namespaced tool names (weather.get) and resource URIs
// (file:///srv/a/b) are flat strings to a policy, and "db.*" must cover every tool of upstream db.

// maxGlobLen bounds a glob so that matching stays cheap.
const maxGlobLen = 1024

type globKind uint8

const (
	globAny      globKind = iota // *
	globLiteral                  // abc
	globPrefix                   // abc*
	globSuffix                   // *abc
	globContains                 // *abc*
	globGeneral                  // anything else
)

// glob is a compiled pattern. The common shapes match with a single strings call; the rest run a
// backtracking matcher that is linear in practice and O(len(name)×len(pattern)) at worst.
type glob struct {
	src  string
	kind globKind
	lit  string
	toks []gtok
}

type gtokKind uint8

const (
	tokLit gtokKind = iota
	tokOne
	tokStar
	tokClass
)

type gtok struct {
	kind  gtokKind
	lit   string
	class *charClass
}

type runeRange struct{ lo, hi rune }

type charClass struct {
	neg    bool
	ranges []runeRange
}

func (c *charClass) match(r rune) bool {
	in := false
	for _, rg := range c.ranges {
		if r >= rg.lo && r <= rg.hi {
			in = true
			break
		}
	}
	return in != c.neg
}

// compileGlob parses a pattern.
func compileGlob(src string) (*glob, error) {
	if src == "" {
		return nil, errors.New("empty glob")
	}
	if len(src) > maxGlobLen {
		return nil, fmt.Errorf("glob longer than %d bytes", maxGlobLen)
	}
	if !utf8.ValidString(src) {
		// Names are valid UTF-8 (the gateway refuses messages that are not), and the fast paths
		// compare bytes where the general matcher compares runes: the two would disagree.
		return nil, errors.New("glob is not valid UTF-8")
	}
	var toks []gtok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, gtok{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
				toks = append(toks, gtok{kind: tokStar})
			}
			i++
		case '?':
			flush()
			toks = append(toks, gtok{kind: tokOne})
			i++
		case '\\':
			if i+1 == len(src) {
				return nil, errors.New("ends with a lone \\")
			}
			_, n := utf8.DecodeRuneInString(src[i+1:])
			lit.WriteString(src[i+1 : i+1+n])
			i += 1 + n
		case '[':
			cls, n, err := parseClass(src[i:])
			if err != nil {
				return nil, err
			}
			flush()
			toks = append(toks, gtok{kind: tokClass, class: cls})
			i += n
		case ']':
			return nil, errors.New("] without [ (write \\] for a literal ])")
		default:
			_, n := utf8.DecodeRuneInString(src[i:])
			lit.WriteString(src[i : i+n])
			i += n
		}
	}
	flush()
	g := &glob{src: src, kind: globGeneral, toks: toks}
	switch {
	case len(toks) == 1 && toks[0].kind == tokStar:
		g.kind = globAny
	case len(toks) == 1 && toks[0].kind == tokLit:
		g.kind, g.lit = globLiteral, toks[0].lit
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokStar:
		g.kind, g.lit = globPrefix, toks[0].lit
	case len(toks) == 2 && toks[0].kind == tokStar && toks[1].kind == tokLit:
		g.kind, g.lit = globSuffix, toks[1].lit
	case len(toks) == 3 && toks[0].kind == tokStar && toks[1].kind == tokLit && toks[2].kind == tokStar:
		g.kind, g.lit = globContains, toks[1].lit
	}
	if g.kind != globGeneral {
		g.toks = nil
	}
	return g, nil
}

// parseClass parses [...] at the start of s and returns the class and its length in bytes.
func parseClass(s string) (*charClass, int, error) {
	cls := &charClass{}
	i := 1
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		cls.neg = true
		i++
	}
	readRune := func() (rune, bool) {
		if i < len(s) && s[i] == '\\' {
			i++
		}
		if i >= len(s) {
			return 0, false
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		return r, true
	}
	for {
		if i >= len(s) {
			return nil, 0, errors.New("unterminated character class [")
		}
		if s[i] == ']' {
			if len(cls.ranges) == 0 {
				return nil, 0, errors.New("empty character class []")
			}
			return cls, i + 1, nil
		}
		lo, ok := readRune()
		if !ok {
			return nil, 0, errors.New("unterminated character class [")
		}
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			i++
			if hi, ok = readRune(); !ok {
				return nil, 0, errors.New("unterminated character class [")
			}
			if hi < lo {
				return nil, 0, fmt.Errorf("bad range %c-%c in character class", lo, hi)
			}
		}
		cls.ranges = append(cls.ranges, runeRange{lo, hi})
	}
}

// match reports whether the whole of s matches the pattern.
func (g *glob) match(s string) bool {
	switch g.kind {
	case globAny:
		return true
	case globLiteral:
		return s == g.lit
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	case globContains:
		return strings.Contains(s, g.lit)
	}
	return matchTokens(g.toks, s)
}

// matchTokens is the classic wildcard matcher: on a mismatch it returns to the last star and lets it
// swallow one more character. Segments between stars are matched at their leftmost position, which is
// always safe, so one backtrack point suffices.
func matchTokens(toks []gtok, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			case tokOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			case tokClass:
				if si < len(s) {
					r, n := utf8.DecodeRuneInString(s[si:])
					if t.class.match(r) {
						si += n
						ti++
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		si, ti = starSi, starTi+1
	}
}

// globList is a match field: it holds when any of its globs matches. A nil list is no restriction.
type globList struct {
	globs []*glob
	// all is set when one of the globs is "*".
	all bool
}

func (l *globList) match(s string) bool {
	if l == nil || l.all {
		return true
	}
	for _, g := range l.globs {
		if g.match(s) {
			return true
		}
	}
	return false
}

func (l *globList) globsOrNil() []*glob {
	if l == nil {
		return nil
	}
	return l.globs
}

// String lists the sources, as [a, b*].
func (l *globList) String() string {
	srcs := make([]string, len(l.globs))
	for i, g := range l.globs {
		srcs[i] = g.src
	}
	return "[" + strings.Join(srcs, ", ") + "]"
}

// isLiteral reports whether the glob matches exactly one name, and which.
func (g *glob) isLiteral() (string, bool) {
	return g.lit, g.kind == globLiteral
}
