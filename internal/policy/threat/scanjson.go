package threat

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// maxJSONDepth is the nesting ScanJSON reads, as the gateway's decoder of results allows; deeper
// input is left to the caller.
const maxJSONDepth = 10000

// ScanJSON scans the JSON value raw as ScanValue scans what encoding/json decodes from it with
// UseNumber: the same findings, in the same order, at the same paths (objects in sorted key order,
// a repeated member name with its last value). It reads raw in place, without building the value,
// which is what a result that no policy reads needs.
//
// ok is false, and nothing was scanned, when raw is not one valid JSON value or holds what only a
// full decoder reads as encoding/json does (invalid UTF-8, a lone surrogate escape, nesting over
// 10,000): the caller decodes raw itself and calls ScanValue, or refuses it.
func (s *Scanner) ScanJSON(where string, raw []byte) (t policy.Threat, ok bool) {
	sc := s.get(false)
	defer s.put(sc)
	if !sc.tokenize(raw) {
		return policy.Threat{}, false
	}
	sc.root = where
	sc.path = sc.path[:0]
	sc.inKey = false
	sc.walkJSON(0, 0)
	return sc.threat(), true
}

// jtok is one token of the value ScanJSON reads. A string's text is decoded; next is the index of
// the token after this one's value (after its close, for an object or array).
type jtok struct {
	kind jsonscan.Kind
	next int32
	text string
}

// jmember is an object member while its object is walked: its name and its value's token.
type jmember struct {
	name  string
	value int32
}

// tokenize reads raw into sc.toks, checking it as the gateway's decoder would. Strings are decoded
// here, so that the walk only looks them up.
func (sc *scan) tokenize(raw []byte) bool {
	sc.toks, sc.open = sc.toks[:0], sc.open[:0]
	var js jsonscan.Scanner
	js.Reset(raw, maxJSONDepth)
	for {
		t, err := js.Next()
		if err == io.EOF {
			return len(sc.open) == 0 && len(sc.toks) > 0
		}
		if err != nil {
			return false
		}
		i := int32(len(sc.toks))
		tok := jtok{kind: t.Kind, next: i + 1}
		switch t.Kind {
		case '{', '[':
			sc.open = append(sc.open, i)
		case '}', ']':
			if len(sc.open) == 0 {
				return false
			}
			last := len(sc.open) - 1
			sc.toks[sc.open[last]].next = i + 1
			sc.open = sc.open[:last]
		case '"':
			s, ok := decodeString(t)
			if !ok {
				return false
			}
			tok.text = s
		}
		sc.toks = append(sc.toks, tok)
	}
}

// decodeString decodes a string token as encoding/json does, or reports false for what it leaves
// to encoding/json: invalid UTF-8 and lone surrogates, which encoding/json replaces. The token is
// well formed (jsonscan.ScanString checked it): every escape is complete.
func decodeString(t jsonscan.Token) (string, bool) {
	text := t.Text()
	if t.Flags&jsonscan.NonASCII != 0 && !utf8.Valid(text) {
		return "", false
	}
	if t.Flags&jsonscan.Escaped == 0 {
		return string(text), true
	}
	var b strings.Builder
	b.Grow(len(text))
	for {
		i := bytes.IndexByte(text, '\\')
		if i < 0 {
			b.Write(text)
			return b.String(), true
		}
		b.Write(text[:i])
		c := text[i+1]
		text = text[i+2:]
		if c != 'u' {
			b.WriteByte(unescaped[c])
			continue
		}
		r := hex4(text)
		text = text[4:]
		if utf16.IsSurrogate(r) {
			// Only a high surrogate escape followed by a low one is a character.
			if r >= 0xdc00 || len(text) < 6 || text[0] != '\\' || text[1] != 'u' {
				return "", false
			}
			lo := hex4(text[2:])
			if lo < 0xdc00 || lo > 0xdfff {
				return "", false
			}
			r, text = utf16.DecodeRune(r, lo), text[6:]
		}
		b.WriteRune(r)
	}
}

// unescaped maps the byte after a backslash to what the escape stands for (\u aside).
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 reads the four hex digits of a \u escape, which jsonscan has checked.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// walkJSON scans the value at token i, as walk scans its decoded form.
func (sc *scan) walkJSON(i int32, depth int) {
	if depth > maxValueDepth || sc.remaining <= 0 {
		return
	}
	switch t := &sc.toks[i]; t.kind {
	case '"':
		sc.text(t.text)
	case '{':
		start := len(sc.members)
		for j := i + 1; sc.toks[j].kind != '}'; j = sc.toks[j+1].next {
			sc.members = append(sc.members, jmember{name: sc.toks[j].text, value: j + 1})
		}
		end := len(sc.members)
		// Sorted by name, a repeated name's members in document order: the last is the one kept,
		// as in the decoded map. The walk below appends past end and truncates back, so the
		// members are read through sc.members, which an append may move.
		slices.SortStableFunc(sc.members[start:end], func(a, b jmember) int { return strings.Compare(a.name, b.name) })
		for k := start; k < end; k++ {
			m := sc.members[k]
			if k+1 < end && sc.members[k+1].name == m.name {
				continue
			}
			sc.path = append(sc.path, pathSeg{key: m.name, member: true})
			sc.inKey = true
			sc.text(m.name)
			sc.inKey = false
			sc.walkJSON(m.value, depth+1)
			sc.path = sc.path[:len(sc.path)-1]
		}
		clear(sc.members[start:])
		sc.members = sc.members[:start]
	case '[':
		n := 0
		for j := i + 1; sc.toks[j].kind != ']'; j = sc.toks[j].next {
			sc.path = append(sc.path, pathSeg{index: n})
			sc.walkJSON(j, depth+1)
			sc.path = sc.path[:len(sc.path)-1]
			n++
		}
	}
}
