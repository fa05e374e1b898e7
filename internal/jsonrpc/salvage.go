package jsonrpc

import "github.com/go-json-experiment/json/jsontext"

// SalvageID finds the top-level "id" of a frame that Parse refused, so the sender can be told why. It
// reads only the top-level members of an object, tolerates a frame cut short (an oversize frame is
// salvaged from its first bytes), and gives up — returning the zero ID — on anything ambiguous: two
// top-level ids, an id that is not a plain string or number, or syntax it cannot follow. It never
// recurses, so a hostile frame cannot make it work harder than one pass.
func SalvageID(b []byte) ID {
	s := salvager{b: b}
	s.space()
	if !s.eat('{') {
		return ID{}
	}
	var found ID
	for n := 0; ; n++ {
		s.space()
		if s.eat('}') || s.i >= len(s.b) {
			return found
		}
		if n > 0 && !s.eat(',') {
			return found
		}
		s.space()
		name, ok := s.str()
		if !ok {
			return found
		}
		s.space()
		if !s.eat(':') {
			return found
		}
		s.space()
		if name == "id" {
			if !found.IsZero() {
				return ID{} // two ids: ambiguous
			}
			start := s.i
			switch {
			case s.peek('"'):
				if _, ok := s.str(); !ok {
					return ID{}
				}
			case s.peek('-') || (s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9'):
				s.number()
			default:
				return ID{}
			}
			val := jsontext.Value(s.b[start:s.i])
			if !val.IsValid() { // "000", "1.", bad escapes: not an id a peer could have meant
				return ID{}
			}
			id, err := parseID(val)
			if err != nil || id.IsNull() {
				return ID{}
			}
			found = id
			continue
		}
		if !s.skipValue() {
			return found
		}
	}
}

type salvager struct {
	b []byte
	i int
}

func (s *salvager) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\r' || s.b[s.i] == '\n') {
		s.i++
	}
}

func (s *salvager) peek(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func (s *salvager) eat(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns its raw content; names with escapes are returned as written, which
// is enough to recognise a plain "id".
func (s *salvager) str() (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, true
		}
		s.i++
	}
	return "", false
}

func (s *salvager) number() {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.i++
		default:
			return
		}
	}
}

// skipValue skips one value by bracket counting, respecting strings.
func (s *salvager) skipValue() bool {
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			if _, ok := s.str(); !ok {
				return false
			}
			if depth == 0 {
				return true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return true // end of the enclosing object: let the caller see it
			}
			depth--
			if depth == 0 {
				s.i++
				return true
			}
		case ',':
			if depth == 0 {
				return true
			}
		}
		s.i++
	}
	return false
}
