package rules

import (
	"encoding/json"
	"math"
	"strconv"
)

// number is a numeric value being compared. f orders almost every pair; when two values round to the
// same float64 and both came from decimal text, dec breaks the tie exactly, so that an argument of
// "500.0000000000000001" is not taken for 500 by a rule "amount le 500".
type number struct {
	f      float64
	dec    decimal
	hasDec bool
}

// decimal is a number in JSON grammar, held as slices of its text: value = ±int.frac × 10^exp.
type decimal struct {
	neg       bool
	int, frac string
	exp       int64
}

// maxExp bounds exponents so that comparing absurd numbers ("1e99999999999999999999") stays cheap and
// cannot overflow; numbers that far out compare equal only to each other.
const maxExp = 1 << 40

// parseDecimal accepts exactly the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return d, false
	}
	d.int = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return d, false
		}
		d.frac = s[fs:i]
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			if d.exp < maxExp {
				d.exp = d.exp*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == es {
			return d, false
		}
		if eneg {
			d.exp = -d.exp
		}
	}
	return d, i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digit returns the i-th digit of int followed by frac.
func (d *decimal) digit(i int) byte {
	if i < len(d.int) {
		return d.int[i]
	}
	return d.frac[i-len(d.int)]
}

// sig finds the significant digits: the first and last non-zero positions in int+frac, and the decimal
// exponent of the first one (value = 0.d1d2… × 10^e). zero reports a value of zero.
func (d *decimal) sig() (first, last int, e int64, zero bool) {
	n := len(d.int) + len(d.frac)
	first = 0
	for first < n && d.digit(first) == '0' {
		first++
	}
	if first == n {
		return 0, 0, 0, true
	}
	last = n - 1
	for d.digit(last) == '0' {
		last--
	}
	return first, last, int64(len(d.int)-first) + d.exp, false
}

// cmpDecimal compares two decimals exactly, in time linear in their length.
func cmpDecimal(a, b *decimal) int {
	af, al, ae, az := a.sig()
	bf, bl, be, bz := b.sig()
	switch {
	case az && bz:
		return 0
	case az:
		return sign(!b.neg)
	case bz:
		return sign(a.neg)
	case a.neg != b.neg:
		return sign(a.neg)
	}
	mag := 0 // magnitude comparison
	switch {
	case ae > be:
		mag = 1
	case ae < be:
		mag = -1
	default:
		i, j := af, bf
		for ; i <= al && j <= bl; i, j = i+1, j+1 {
			if ca, cb := a.digit(i), b.digit(j); ca != cb {
				if ca > cb {
					mag = 1
				} else {
					mag = -1
				}
				break
			}
		}
		if mag == 0 {
			switch {
			case i <= al:
				mag = 1
			case j <= bl:
				mag = -1
			}
		}
	}
	if a.neg {
		return -mag
	}
	return mag
}

// sign is -1 for true and 1 for false: the comparison result when the left value is negative.
func sign(leftNegative bool) int {
	if leftNegative {
		return -1
	}
	return 1
}

// cmpNumber orders two numbers.
func cmpNumber(a, b *number) int {
	switch {
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	case a.hasDec && b.hasDec:
		return cmpDecimal(&a.dec, &b.dec)
	}
	return 0
}

// numberFromText reads a JSON-grammar number from text (a json.Number or a numeric string).
func numberFromText(s string) (number, bool) {
	d, ok := parseDecimal(s)
	if !ok {
		return number{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return number{}, false
	}
	return number{f: f, dec: d, hasDec: true}, true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// numberOf reads a field value as a number: a json.Number, a string in JSON number grammar (so that
// "600" cannot dodge a numeric rule), or any Go number. NaN is not a number.
func numberOf(v any) (number, bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		return numberFromText(string(x))
	case string:
		return numberFromText(x)
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	default:
		return number{}, false
	}
	if math.IsNaN(f) {
		return number{}, false
	}
	return number{f: f}, true
}
