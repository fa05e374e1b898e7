package jsonscan

import (
	"errors"
	"io"
	"unicode/utf8"
)

// ErrUnusual is Object's answer for input it leaves to a full decoder: it may be invalid, or valid
// but holding something Object does not read itself.
var ErrUnusual = errors.New("jsonscan: left to a full decoder")

// Object reads b, which must be exactly one JSON object, and calls member with the name of each of
// its members, in order, and where its value is: b[start:end]. It reads strictly: b must be JSON
// that every strict decoder reads the same way, with no object (at any depth) naming a member twice,
// valid UTF-8 in every string, no nesting deeper than maxDepth (0, or more than the decoder's own
// limit of 10,000 levels: that limit), and no more than maxTokens tokens (Scanner.Tokens; 0: no
// limit).
//
// Object returns ErrUnusual, without having called member for every member, when b breaks a rule
// or holds what Object does not check itself: a member name with an escape, a surrogate escape,
// more than 64 names in the objects open at once, or more than 16 objects nested. It also returns
// ErrUnusual for b holding more than maxTokens tokens, so that the caller's full reading, which
// counts them too, words the one error for it. The caller must then read b with a
// full decoder, which decides whether it is valid. An error from member ends the reading and is
// returned.
func Object(b []byte, maxDepth, maxTokens int, member func(name []byte, start, end int) error) error {
	if maxDepth <= 0 || maxDepth > decoderMaxDepth {
		maxDepth = decoderMaxDepth
	}
	var s Scanner
	s.Reset(b, maxDepth)
	s.LimitTokens(maxTokens)
	if t, err := s.Next(); err != nil || t.Kind != '{' {
		return ErrUnusual
	}
	var names nameStack
	names.open()
	for {
		t, err := s.Next()
		if err != nil {
			return ErrUnusual
		}
		if t.Kind == '}' {
			break
		}
		if !names.add(t) {
			return ErrUnusual
		}
		v, err := s.Next()
		if err != nil {
			return ErrUnusual
		}
		start := s.Offset() - len(v.Raw)
		if !strict(&s, &names, v) {
			return ErrUnusual
		}
		if err := member(t.Text(), start, s.Offset()); err != nil {
			return err
		}
	}
	if _, err := s.Next(); err != io.EOF {
		return ErrUnusual
	}
	return nil
}

// decoderMaxDepth is the deepest nesting jsontext accepts: Object accepts no more.
const decoderMaxDepth = 10000

// strict checks the value whose first token is t, reading the rest of it if it is an object or an
// array, and reports whether it is ordinary.
func strict(s *Scanner, names *nameStack, t Token) bool {
	if !names.check(t) {
		return false
	}
	if t.Kind != '{' && t.Kind != '[' {
		return true
	}
	for d := s.Depth(); s.Depth() >= d; {
		var err error
		if t, err = s.Next(); err != nil || !names.check(t) {
			return false
		}
	}
	return true
}

// nameStack holds the member names of the open objects, to find a name used twice. It is sized for
// the messages MCP is made of; an object with more members, or deeper nesting of objects, is left
// to a full decoder, which keeps the comparisons linear.
type nameStack struct {
	names [64][]byte
	n     int
	// marks[i] is where the names of the i-th open object start.
	marks [16]int
	depth int
}

// check takes note of one token and reports whether it is ordinary.
func (ns *nameStack) check(t Token) bool {
	switch t.Kind {
	case '{':
		return ns.open()
	case '}':
		ns.depth--
		ns.n = ns.marks[ns.depth]
	case '"':
		if t.Name {
			return ns.add(t)
		}
		return plainString(t)
	}
	return true
}

func (ns *nameStack) open() bool {
	if ns.depth == len(ns.marks) {
		return false
	}
	ns.marks[ns.depth] = ns.n
	ns.depth++
	return true
}

// add records a member name of the innermost open object; false if it repeats one, or is unusual.
func (ns *nameStack) add(t Token) bool {
	if t.Flags&Escaped != 0 || !plainString(t) || ns.n == len(ns.names) {
		return false
	}
	name := t.Text()
	for _, other := range ns.names[ns.marks[ns.depth-1]:ns.n] {
		if string(other) == string(name) {
			return false
		}
	}
	ns.names[ns.n] = name
	ns.n++
	return true
}

// plainString reports whether a string is valid as it stands: valid UTF-8, no surrogate escapes.
func plainString(t Token) bool {
	return t.Flags&Surrogate == 0 && (t.Flags&NonASCII == 0 || utf8.Valid(t.Text()))
}
