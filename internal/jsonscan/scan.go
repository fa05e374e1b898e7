package jsonscan

import (
	"errors"
	"io"
	"strings"
)

// Errors a Scanner returns. Each ends the scan.
var (
	// ErrSyntax: the input is not JSON.
	ErrSyntax = errors.New("jsonscan: invalid JSON")
	// ErrTrailing: a complete value is followed by more than white space.
	ErrTrailing = errors.New("jsonscan: data after the JSON value")
	// ErrDepth: objects and arrays are nested deeper than the Scanner's limit.
	ErrDepth = errors.New("jsonscan: JSON nested too deeply")
	// ErrTokens: the input holds more tokens than the Scanner's limit (LimitTokens).
	ErrTokens = errors.New("jsonscan: too many JSON tokens")
)

// Kind is the kind of a token: '{', '}', '[', ']', '"' (string), '0' (number), 't', 'f' or 'n'.
type Kind byte

// Token is one token of the input.
type Token struct {
	Kind Kind
	// Raw is the token's bytes in the input: a string with its quotes, a number's text, a literal,
	// or the one byte of a brace or bracket.
	Raw []byte
	// Name is set for a string that names an object member.
	Name bool
	// Flags describe a string's bytes.
	Flags Flags
}

// Text returns a string token's bytes between its quotes: its text when it is not Escaped.
func (t Token) Text() []byte { return t.Raw[1 : len(t.Raw)-1] }

// Flags describe what a string holds, for a caller to decide whether it needs a full decoder.
type Flags uint8

// The flags of a string.
const (
	// Escaped: a backslash escape, so the string's text is not its raw bytes.
	Escaped Flags = 1 << iota
	// NonASCII: a byte over 0x7F, so the string may hold invalid UTF-8.
	NonASCII
	// Surrogate: a \u escape of a UTF-16 surrogate, which is valid only as half of a pair.
	Surrogate
)

// what the scanner expects next
const (
	wantValue      = iota // a value: the input's first, or after ':' or after ',' in an array
	wantValueOrEnd        // after '[': a value or ']'
	wantName              // after ',' in an object
	wantNameOrEnd         // after '{': a name or '}'
	wantMore              // after a value in an object or array: ',' or its end
	wantEnd               // after the top-level value: only white space
)

// Scanner reads tokens from one input. The zero value is not ready; use Reset.
type Scanner struct {
	b    []byte
	i    int
	want uint8
	// depth is how many objects and arrays are open; bit d of open (or of more, beyond 64) is set
	// when the one at depth d is an object.
	depth    int
	maxDepth int
	open     uint64
	more     []uint64
	// tokens counts the names and values begun; maxTokens, when positive, bounds it.
	tokens, maxTokens int
}

// Reset makes s read b from the start, allowing at most maxDepth levels of nesting (0: no limit).
func (s *Scanner) Reset(b []byte, maxDepth int) {
	*s = Scanner{b: b, maxDepth: maxDepth, more: s.more[:0]}
}

// Offset returns how many bytes of the input have been read.
func (s *Scanner) Offset() int { return s.i }

// Depth returns how many objects and arrays are open.
func (s *Scanner) Depth() int { return s.depth }

// Tokens returns how many tokens have been read, the closes of objects and arrays aside: each
// member name, and each value (an object or array counts once, as do a string, a number, true, false
// and null).
func (s *Scanner) Tokens() int { return s.tokens }

// LimitTokens makes Next fail with ErrTokens rather than read more than max tokens (as Tokens counts
// them), so that a caller bounding them stops at the limit rather than at the end of the input.
// Reset removes the limit.
func (s *Scanner) LimitTokens(max int) { s.maxTokens = max }

// Next returns the next token; io.EOF after the top-level value and the white space after it.
func (s *Scanner) Next() (Token, error) {
	s.i = SkipSpace(s.b, s.i)
	if s.i >= len(s.b) {
		if s.want == wantEnd {
			return Token{}, io.EOF
		}
		return Token{}, ErrSyntax
	}
	c := s.b[s.i]
	switch s.want {
	case wantEnd:
		return Token{}, ErrTrailing
	case wantMore:
		inObject := s.inObject()
		switch {
		case c == '}' && inObject, c == ']' && !inObject:
			return s.close()
		case c != ',':
			return Token{}, ErrSyntax
		}
		s.i = SkipSpace(s.b, s.i+1)
		if s.i >= len(s.b) {
			return Token{}, ErrSyntax
		}
		if inObject {
			return s.name()
		}
		return s.value()
	case wantNameOrEnd:
		if c == '}' {
			return s.close()
		}
		return s.name()
	case wantName:
		return s.name()
	case wantValueOrEnd:
		if c == ']' {
			return s.close()
		}
	}
	return s.value()
}

// Value reads the next value whole and returns its bytes: the token of a string, number or literal,
// or everything from an object's or array's opening to its close.
func (s *Scanner) Value() ([]byte, error) {
	t, err := s.Next()
	if err != nil {
		return nil, err
	}
	if t.Kind != '{' && t.Kind != '[' {
		if t.Name || t.Kind == '}' || t.Kind == ']' {
			return nil, ErrSyntax
		}
		return t.Raw, nil
	}
	start, d := s.i-1, s.depth
	for s.depth >= d {
		if _, err := s.Next(); err != nil {
			return nil, err
		}
	}
	return s.b[start:s.i], nil
}

func (s *Scanner) inObject() bool {
	d := s.depth - 1
	if d < 64 {
		return s.open&(1<<d) != 0
	}
	return s.more[d/64-1]&(1<<(d%64)) != 0
}

func (s *Scanner) push(object bool) error {
	if s.maxDepth > 0 && s.depth >= s.maxDepth {
		return ErrDepth
	}
	d := s.depth
	if d >= 64 && d%64 == 0 && len(s.more) < d/64 {
		s.more = append(s.more, 0)
	}
	word, bit := &s.open, uint64(1)<<(d%64)
	if d >= 64 {
		word = &s.more[d/64-1]
	}
	if object {
		*word |= bit
	} else {
		*word &^= bit
	}
	s.depth++
	return nil
}

func (s *Scanner) close() (Token, error) {
	s.depth--
	s.i++
	s.after()
	return Token{Kind: Kind(s.b[s.i-1]), Raw: s.b[s.i-1 : s.i]}, nil
}

// after sets what may follow a complete value.
func (s *Scanner) after() {
	if s.depth == 0 {
		s.want = wantEnd
	} else {
		s.want = wantMore
	}
}

func (s *Scanner) name() (Token, error) {
	if s.tokens++; s.maxTokens > 0 && s.tokens > s.maxTokens {
		return Token{}, ErrTokens
	}
	if s.b[s.i] != '"' {
		return Token{}, ErrSyntax
	}
	t, err := s.str()
	if err != nil {
		return Token{}, err
	}
	s.i = SkipSpace(s.b, s.i)
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return Token{}, ErrSyntax
	}
	s.i++
	s.want = wantValue
	t.Name = true
	return t, nil
}

func (s *Scanner) value() (Token, error) {
	if s.tokens++; s.maxTokens > 0 && s.tokens > s.maxTokens {
		return Token{}, ErrTokens
	}
	start := s.i
	switch c := s.b[s.i]; {
	case c == '{' || c == '[':
		if err := s.push(c == '{'); err != nil {
			return Token{}, err
		}
		s.i++
		if c == '{' {
			s.want = wantNameOrEnd
		} else {
			s.want = wantValueOrEnd
		}
		return Token{Kind: Kind(c), Raw: s.b[start:s.i]}, nil
	case c == '"':
		t, err := s.str()
		if err == nil {
			s.after()
		}
		return t, err
	case c == '-' || c >= '0' && c <= '9':
		end, ok := ScanNumber(s.b, s.i)
		if !ok {
			return Token{}, ErrSyntax
		}
		s.i = end
		s.after()
		return Token{Kind: '0', Raw: s.b[start:end]}, nil
	case c == 't' || c == 'f' || c == 'n':
		word := literals[c]
		if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
			return Token{}, ErrSyntax
		}
		s.i += len(word)
		s.after()
		return Token{Kind: Kind(c), Raw: s.b[start:s.i]}, nil
	}
	return Token{}, ErrSyntax
}

var literals = [256]string{'t': "true", 'f': "false", 'n': "null"}

func (s *Scanner) str() (Token, error) {
	start := s.i
	end, flags, ok := ScanString(s.b, s.i)
	if !ok {
		return Token{}, ErrSyntax
	}
	s.i = end
	return Token{Kind: '"', Raw: s.b[start:end], Flags: flags}, nil
}

// SkipSpace returns the index of the first byte at or after i that is not JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// ScanString reads the string whose opening quote is at b[i] and returns the index after its closing
// quote, what it holds, and ok false when it is not a well-formed string (unterminated, a control
// character, an unknown escape, a \u without four hex digits). It does not check UTF-8 or that
// surrogate escapes pair up: the flags say when a caller must.
func ScanString(b []byte, i int) (end int, flags Flags, ok bool) {
	var high byte
	for i++; i < len(b); i++ {
		c := b[i]
		high |= c
		switch {
		case c == '"':
			if high >= 0x80 {
				flags |= NonASCII
			}
			return i + 1, flags, true
		case c < 0x20:
			return 0, 0, false
		case c == '\\':
			flags |= Escaped
			if i+1 >= len(b) {
				return 0, 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 6 || !hex4(b[i+2:i+6]) {
					return 0, 0, false
				}
				if (b[i+2] == 'd' || b[i+2] == 'D') && strings.IndexByte("89abcdefABCDEF", b[i+3]) >= 0 {
					flags |= Surrogate
				}
				i += 5
			default:
				return 0, 0, false
			}
		}
	}
	return 0, 0, false
}

func hex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ScanNumber reads the number that starts at b[i] and returns the index after it; ok is false when
// its grammar is wrong (RFC 8259 §6: no leading zeros, digits after '.' and after an exponent).
func ScanNumber(b []byte, i int) (end int, ok bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
