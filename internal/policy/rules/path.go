package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Path syntax: dotted segments, items.0.sku; bracketed array positions, items[0].sku; and quoted keys
// for names that contain dots or brackets, ["a.b"].c or ['a.b'].c. A dotted segment that is a
// canonical decimal (0, 7, 42; not 07) also indexes arrays; a quoted one is only ever an object key.

// maxIndex bounds array positions in paths; no JSON message gatehouse accepts has more elements.
const maxIndex = 1_000_000_000

// seg is one step of a path.
type seg struct {
	key string
	// idx is the array position this step selects, or -1 when the step can only name an object key.
	idx int
	// quoted records ["key"] spelling, which never indexes arrays and is never a context root.
	quoted bool
}

// parsePath splits a path into segments.
func parsePath(s string) ([]seg, error) {
	if s == "" {
		return nil, errors.New("empty path")
	}
	var segs []seg
	i := 0
	for {
		if s[i] == '[' {
			sg, n, err := parseBracket(s[i:])
			if err != nil {
				return nil, err
			}
			segs = append(segs, sg)
			i += n
		} else {
			start := i
			for i < len(s) && s[i] != '.' && s[i] != '[' {
				switch c := s[i]; {
				case c == ']':
					return nil, errors.New("] without [")
				case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c < 0x20:
					return nil, errors.New("whitespace or control character (quote the key: [\"a b\"])")
				}
				i++
			}
			if i == start {
				return nil, errors.New("empty segment")
			}
			key := s[start:i]
			segs = append(segs, seg{key: key, idx: decimalIndex(key)})
		}
		if i == len(s) {
			return segs, nil
		}
		switch s[i] {
		case '.':
			i++
			if i == len(s) {
				return nil, errors.New("ends with '.'")
			}
			switch s[i] {
			case '.':
				return nil, errors.New("empty segment")
			case '[':
				return nil, errors.New(`'.' before '['; write a[0] or a["k"]`)
			}
		case '[':
		default:
			return nil, fmt.Errorf("unexpected %q after ]; want '.', '[' or the end", s[i])
		}
	}
}

// parseBracket parses [N], ["key"] or ['key'] at the start of s and returns its length in bytes.
func parseBracket(s string) (seg, int, error) {
	if len(s) < 2 {
		return seg{}, 0, errors.New("unterminated [")
	}
	switch q := s[1]; {
	case isDigit(q):
		j := 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == len(s) || s[j] != ']' {
			return seg{}, 0, errors.New(`bad index: want [N] or ["key"]`)
		}
		key := s[1:j]
		idx := decimalIndex(key)
		if idx < 0 {
			return seg{}, 0, fmt.Errorf("bad index [%s]: want a decimal without leading zeros below %d", key, maxIndex)
		}
		return seg{key: key, idx: idx}, j + 1, nil
	case q == '"' || q == '\'':
		var b strings.Builder
		for j := 2; j < len(s); j++ {
			c := s[j]
			switch {
			case c == '\\':
				if j+1 == len(s) {
					return seg{}, 0, errors.New("unterminated quoted key")
				}
				j++
				b.WriteByte(s[j])
			case c == q:
				if j+1 == len(s) || s[j+1] != ']' {
					return seg{}, 0, errors.New("quoted key must be followed by ]")
				}
				return seg{key: b.String(), idx: -1, quoted: true}, j + 2, nil
			default:
				b.WriteByte(c)
			}
		}
		return seg{}, 0, errors.New("unterminated quoted key")
	}
	return seg{}, 0, errors.New(`bad bracket: want [N] or ["key"]`)
}

// decimalIndex returns the array position a segment spells, or -1.
func decimalIndex(s string) int {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return -1
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return -1
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= maxIndex {
		return -1
	}
	return n
}

// walk follows segs from v through JSON objects and arrays. ok is false when a step is missing or
// steps into something that is neither.
func walk(v any, segs []seg) (any, bool) {
	for i := range segs {
		sg := &segs[i]
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[sg.key]; !ok {
				return nil, false
			}
		case []any:
			if sg.idx < 0 || sg.idx >= len(x) {
				return nil, false
			}
			v = x[sg.idx]
		case []string:
			if sg.idx < 0 || sg.idx >= len(x) {
				return nil, false
			}
			v = x[sg.idx]
		case map[string]string:
			s, ok := x[sg.key]
			if !ok {
				return nil, false
			}
			v = s
		default:
			return nil, false
		}
	}
	return v, true
}

// segKeys returns the path as the string segments of a policy.Op.
func segKeys(segs []seg) []string {
	out := make([]string, len(segs))
	for i, sg := range segs {
		out[i] = sg.key
	}
	return out
}
